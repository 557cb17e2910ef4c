import assert from 'node:assert/strict';
import {
  type AccountId,
  type DeviceId,
  type DocumentBudgets,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  packMuteStamp,
  type ThreadId,
} from '@badgesync/shared';
import pino from 'pino';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { documentBudgets, loadConfig } from '../src/config.js';
import { Metrics } from '../src/metrics.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { COMPACT_AFTER_UPDATES, RoomCapacityError, RoomManager } from '../src/rooms/room-manager.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { contentOf, valueIn } from './room-rig.js';

const A = 'acct' as AccountId;
const D = 'dev' as DeviceId;
const DEFAULTS: DocumentBudgets = documentBudgets(loadConfig([], {}));

function manager(store: MemoryStore, budgets: DocumentBudgets = DEFAULTS): RoomManager {
  const metrics = new Metrics();
  const commit = new GroupCommit(store, metrics, (err) => assert.fail(String(err)));
  const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
  return new RoomManager({ store, commit, metrics, log: pino({ level: 'silent' }), events, budgets }, 10);
}

/** Stores `count` small updates of one writer, as a device writing mutes one by one would leave them. */
function storeLog(store: MemoryStore, count: number): Y.Doc {
  const doc = new Y.Doc();
  doc.on('update', (update: Uint8Array) =>
    store.commit({ updates: [{ account: A, update }], counts: [], bindings: [], idempotency: [] }),
  );
  const own = new KeyValueArray(doc, deviceRoot(D));
  for (let i = 0; i < count; i++) own.set(muteKey(`t${i % 50}` as ThreadId), packMuteStamp(i + 1, i % 2 === 0));
  store.commit({
    updates: [],
    counts: [],
    bindings: [{ account: A, clientId: doc.clientID, device: D }],
    idempotency: [],
  });
  return doc;
}

describe('loading an account', () => {
  test('[BUDGET-5] a log past the compaction threshold is folded into a snapshot as the account loads', () => {
    const store = new MemoryStore();
    const written = storeLog(store, COMPACT_AFTER_UPDATES + 100);
    assert.equal(store.loadDoc(A).logCount, COMPACT_AFTER_UPDATES + 100);
    const rooms = manager(store);
    const room = rooms.get(A);
    assert.deepEqual(contentOf(room.doc), contentOf(written));
    const after = store.loadDoc(A);
    assert.equal(after.logCount, 0, 'the next load replays a snapshot, not the log');
    assert.equal(after.updates.length, 1);
    const again = new Y.Doc();
    Y.applyUpdate(again, after.updates[0] as Uint8Array);
    assert.deepEqual(contentOf(again), contentOf(written));
    rooms.close();
  });

  test('[BUDGET-5] a short log is left as it is (compacting it would cost an fsync for nothing)', () => {
    const store = new MemoryStore();
    storeLog(store, 10);
    const rooms = manager(store);
    rooms.get(A);
    assert.equal(store.loadDoc(A).logCount, 10);
    rooms.close();
  });

  test('[BUDGET-5] an account holding more client IDs than the account budget is refused, not replayed', () => {
    const store = new MemoryStore();
    storeLog(store, 10);
    store.commit({
      updates: [],
      counts: [],
      bindings: [1, 2, 3].map((clientId) => ({ account: A, clientId, device: D })),
      idempotency: [],
    });
    const rooms = manager(store, { ...DEFAULTS, clientsPerAccount: 3 });
    assert.throws(() => rooms.get(A), RoomCapacityError);
    assert.equal(rooms.size, 0);
    assert.equal(store.loadDoc(A).logCount, 10, 'its data stays');
    rooms.close();
  });

  test('[BUDGET-1] the server writes under the client ID it used before: reloads bind no new one', async () => {
    const store = new MemoryStore();
    const rooms = manager(store);
    for (let load = 0; load < 3; load++) {
      const room = rooms.get(A);
      room.serverWrite(({ heads }) => heads.set('t', load + 1));
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      rooms.sweep(Number.MAX_SAFE_INTEGER);
      assert.equal(rooms.size, 0, 'unloaded');
    }
    const servers = [...store.loadBindings(A).values()].filter((device) => device === '@server');
    assert.equal(servers.length, 1);
    const reloaded = rooms.get(A);
    assert.equal(valueIn(reloaded.doc, HEADS_ROOT, 't'), 3);
    rooms.close();
  });
});
