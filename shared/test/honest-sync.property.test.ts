/**
 * Honest histories through the v2 write rules (devices writing their own arrays with
 * KeyValueArray, one device in two concurrent sessions): stock-provider-like devices sync with the
 * server over ordered sockets, with long offline periods, reconnects, local edits sent
 * before the device's sync step 2, periodic re-syncs (a step 2 against a state vector the
 * server has moved past), server restarts (reload from the log, new Yjs client ID,
 * bindings kept) and reinstalls (a fresh replica that syncs before it writes a marker).
 * The server must refuse nothing, and everyone must end with the server's state.
 * The server here is a model (helpers/server-peer.ts); the same histories run through the
 * server's own room in server/test/room-honest-sync.property.test.ts.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { propertyParams } from './helpers/seed.js';
import { SyncSim, simOp } from './helpers/sync-sim.js';

/** Three devices; the fourth sim device is a second session (another replica) of dev0. */
const DEVICES = 4;
const IDS = [0, 1, 2, 0];

const history = fc.record({
  seed: fc.integer(),
  ops: fc.array(simOp(DEVICES), { minLength: 20, maxLength: 200, size: 'max' }),
});

describe('honest histories through the write rules', () => {
  test('[RULE-11] [RULE-14] [RULE-25] honest devices (two sessions of one among them) are never refused, and all converge on the server’s state', () => {
    const totals: Record<string, number> = { steps: 0 };
    fc.assert(
      fc.property(history, ({ seed, ops }) => {
        const sim = new SyncSim(DEVICES, seed, IDS);
        sim.warmUp();
        for (const o of ops) sim.run(o);
        sim.settle();
        sim.assertConverged();
        totals.steps = (totals.steps ?? 0) + ops.length;
        for (const [key, value] of Object.entries(sim.stats)) totals[key] = (totals[key] ?? 0) + value;
      }),
      propertyParams('honest sync', 300),
    );
    console.log('[honest sync] totals', totals);
    const { notYet = 0, earlyUpdates = 0, restarts = 0, reinstalls = 0, offlineWrites = 0 } = totals;
    assert.ok(notYet > 0 && earlyUpdates > 0, 'no update was ever "not yet": the reconnect race was not exercised');
    assert.ok(restarts > 0 && reinstalls > 0 && offlineWrites > 0);
    assert.ok((totals.duplicates ?? 0) > 0, 'the two sessions of dev0 never wrote one thread concurrently');
    // Only an update that overtakes the device's step 2 after a reconnect may wait.
    assert.equal(totals.lateNotYet, 0, 'an honest update was "not yet" after its session’s step 2');
  });
});
