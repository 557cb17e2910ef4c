/**
 * Honest histories through the server's own sync path (RoomHarness: the real AccountRoom,
 * Session and GroupCommit on a MemoryStore, devices on in-memory socket pairs): devices with
 * long offline periods, reconnects, local edits sent before their sync step 2, periodic
 * re-syncs, commits at arbitrary points, compactions, clean restarts and crashes (a new room
 * from the same store, the unwritten commit lost) and reinstalls; two of the sim devices are
 * concurrent sessions of one device. The room must refuse nothing and log no
 * problem, and every device, the room and the store must end with the same document and counts.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import { RoomSyncSim, roomSimOp } from './room-sync-sim.js';

const DEVICES = 4;
/** Device IDs of the sim devices: the first two are two sessions of one device (legal in v2). */
const IDS = [0, 0, 1, 2];

const history = fc.record({
  seed: fc.integer(),
  ops: fc.array(roomSimOp(DEVICES), { minLength: 20, maxLength: 200, size: 'max' }),
});

describe('honest histories through the real room', () => {
  test('[SYNC-4] [SYNC-10] [RULE-11] [RULE-14] honest devices are never refused by the room, and all converge on its document and counts', async () => {
    const totals: Record<string, number> = { steps: 0 };
    await fc.assert(
      fc.asyncProperty(history, async ({ seed, ops }) => {
        const sim = new RoomSyncSim(DEVICES, seed, IDS);
        try {
          await sim.warmUp();
          for (const o of ops) await sim.run(o);
          await sim.settle();
          sim.assertConverged();
        } finally {
          sim.close();
        }
        totals.steps = (totals.steps ?? 0) + ops.length;
        for (const [key, value] of Object.entries(sim.stats)) totals[key] = (totals[key] ?? 0) + value;
      }),
      propertyParams('room honest sync', 200),
    );
    console.log('[room honest sync] totals', totals);
    const { notYet = 0, earlyUpdates = 0, restarts = 0, crashes = 0, compactions = 0 } = totals;
    assert.ok(notYet > 0 && earlyUpdates > 0, 'no update was ever "not yet": the reconnect race was not exercised');
    assert.ok(restarts > 0 && crashes > 0 && compactions > 0);
    assert.ok((totals.reinstalls ?? 0) > 0 && (totals.offlineWrites ?? 0) > 0);
    assert.ok((totals.duplicates ?? 0) > 0, 'two sessions of one device never left two live entries of one key');
    // Only an update that overtakes the device's step 2 after a reconnect may wait.
    assert.equal(totals.lateNotYet, 0, 'an honest update was "not yet" after its session’s step 2');
  });
});
