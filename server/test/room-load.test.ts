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
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store } from '../src/store/store.js';
import { contentOf, valueIn } from './room-rig.js';

const A = 'acct' as AccountId;
const D = 'dev' as DeviceId;
const DEFAULTS: DocumentBudgets = documentBudgets(loadConfig([], {}));

function manager(
  sync: MemoryStore,
  budgets: DocumentBudgets = DEFAULTS,
  store: Store = asyncStore(sync),
  maxLoaded = 10,
): RoomManager {
  const metrics = new Metrics();
  const commit = new GroupCommit(store, metrics, (err) => assert.fail(String(err)));
  const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
  return new RoomManager({ store, commit, metrics, log: pino({ level: 'silent' }), events, budgets }, maxLoaded);
}

/**
 * The async store over `sync`, whose loadDoc is counted and answers only once the test
 * opens the gate — as a store across the network answers turns later — or fails while
 * `failing` is set.
 */
class GatedStore {
  loadDocCalls = 0;
  failing: Error | null = null;
  #open: () => void = () => {};
  #gate: Promise<void> = Promise.resolve();
  readonly store: Store;

  constructor(sync: MemoryStore) {
    const inner = asyncStore(sync);
    this.store = new Proxy(inner, {
      get: (target, prop) => {
        if (prop === 'loadDoc') {
          return async (account: AccountId) => {
            this.loadDocCalls++;
            await this.#gate;
            if (this.failing !== null) throw this.failing;
            return target.loadDoc(account);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Holds every later loadDoc until open(). */
  close(): void {
    this.#gate = new Promise((resolve) => {
      this.#open = resolve;
    });
  }

  open(): void {
    this.#open();
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

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
  test('[BUDGET-5] a log past the compaction threshold is folded into a snapshot as the account loads', async () => {
    const store = new MemoryStore();
    const written = storeLog(store, COMPACT_AFTER_UPDATES + 100);
    assert.equal(store.loadDoc(A).logCount, COMPACT_AFTER_UPDATES + 100);
    const rooms = manager(store);
    const room = await rooms.acquire(A);
    // The snapshot goes to the store between two batches (SYNC-17): a turn later at most.
    await turn();
    assert.deepEqual(contentOf(room.doc), contentOf(written));
    const after = store.loadDoc(A);
    assert.equal(after.logCount, 0, 'the next load replays a snapshot, not the log');
    assert.equal(after.updates.length, 1);
    const again = new Y.Doc();
    Y.applyUpdate(again, after.updates[0] as Uint8Array);
    assert.deepEqual(contentOf(again), contentOf(written));
    rooms.close();
  });

  test('[BUDGET-5] a short log is left as it is (compacting it would cost an fsync for nothing)', async () => {
    const store = new MemoryStore();
    storeLog(store, 10);
    const rooms = manager(store);
    await rooms.acquire(A);
    await turn();
    assert.equal(store.loadDoc(A).logCount, 10);
    rooms.close();
  });

  test('[BUDGET-5] an account holding more client IDs than the account budget is refused, not replayed', async () => {
    const store = new MemoryStore();
    storeLog(store, 10);
    store.commit({
      updates: [],
      counts: [],
      bindings: [1, 2, 3].map((clientId) => ({ account: A, clientId, device: D })),
      idempotency: [],
    });
    const rooms = manager(store, { ...DEFAULTS, clientsPerAccount: 3 });
    await assert.rejects(rooms.acquire(A), RoomCapacityError);
    assert.equal(rooms.size, 0);
    assert.equal(store.loadDoc(A).logCount, 10, 'its data stays');
    rooms.close();
  });

  test('[BUDGET-1] the server writes under the client ID it used before: reloads bind no new one', async () => {
    const store = new MemoryStore();
    const rooms = manager(store);
    for (let load = 0; load < 3; load++) {
      const room = await rooms.acquire(A);
      room.serverWrite(({ heads }) => heads.set('t', load + 1));
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      rooms.sweep(Number.MAX_SAFE_INTEGER);
      assert.equal(rooms.size, 0, 'unloaded');
    }
    const servers = [...store.loadBindings(A).values()].filter((device) => device === '@server');
    assert.equal(servers.length, 1);
    const reloaded = await rooms.acquire(A);
    assert.equal(valueIn(reloaded.doc, HEADS_ROOT, 't'), 3);
    rooms.close();
  });

  test('[SYNC-16] two acquires of one account while it loads share one load: one room, loadDoc read once, published after it', async () => {
    const sync = new MemoryStore();
    const written = storeLog(sync, 10);
    const gated = new GatedStore(sync);
    const rooms = manager(sync, DEFAULTS, gated.store);
    gated.close();
    const first = rooms.acquire(A);
    const second = rooms.acquire(A);
    await turn();
    assert.equal(gated.loadDocCalls, 1, 'the second acquire waits on the first load');
    assert.equal(rooms.peek(A), undefined, 'not published while it loads');
    assert.equal(rooms.size, 0);
    gated.open();
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a, b, 'the same room');
    assert.equal(rooms.peek(A), a);
    assert.deepEqual(contentOf(a.doc), contentOf(written));
    assert.equal(await rooms.acquire(A), a, 'a later acquire finds it loaded');
    assert.equal(gated.loadDocCalls, 1);
    rooms.close();
  });

  test('[SYNC-16] a load that fails rejects every caller waiting on it, and the next acquire loads again', async () => {
    const sync = new MemoryStore();
    storeLog(sync, 10);
    const gated = new GatedStore(sync);
    const rooms = manager(sync, DEFAULTS, gated.store);
    gated.close();
    gated.failing = new Error('store unreachable');
    const first = rooms.acquire(A);
    const second = rooms.acquire(A);
    gated.open();
    await assert.rejects(first, /store unreachable/);
    await assert.rejects(second, /store unreachable/);
    assert.equal(gated.loadDocCalls, 1);
    assert.equal(rooms.size, 0, 'nothing published');
    gated.failing = null;
    const room = await rooms.acquire(A);
    assert.equal(gated.loadDocCalls, 2, 'loaded again');
    assert.equal(rooms.peek(A), room);
    rooms.close();
  });

  test('[SYNC-7] [SYNC-16] a load in progress counts against the cap: at the cap with none idle, the next account is refused', async () => {
    const sync = new MemoryStore();
    const gated = new GatedStore(sync);
    const rooms = manager(sync, DEFAULTS, gated.store, 1);
    gated.close();
    const loading = rooms.acquire(A);
    await assert.rejects(rooms.acquire('other' as AccountId), RoomCapacityError);
    gated.open();
    await loading;
    assert.equal(rooms.size, 1);
    rooms.close();
  });
});
