/**
 * The store contract suite (SPEC STORE-1..STORE-9): every Store implementation runs it.
 * MemoryStore is the reference; an implementation passes when it behaves the same.
 */
import assert from 'node:assert/strict';
import {
  type AccountCounts,
  type AccountId,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  packMuteStamp,
  SERVER_DEVICE,
  type ThreadId,
} from '@badgesync/shared';
import { afterEach, beforeEach, describe, test as vitestTest } from 'vitest';
import * as Y from 'yjs';
import type { SyncStore, WriteBatch } from '../src/store/index.js';
import { contentOf } from './room-rig.js';
import { storeDevicesContract } from './store-contract-devices.js';
import { storePushContract } from './store-contract-push.js';
import { A, B, batch, C, D1, D2, EMPTY_BATCH, hex, withDocuments } from './store-fixtures.js';

export type MakeStore = () => SyncStore;

function update(...bytes: number[]): Uint8Array {
  return new Uint8Array(bytes);
}

function counts(badge: number, threads: Record<string, number> = {}, muted: string[] = []): AccountCounts {
  return { badge, threads, muted };
}

/** Replays stored updates into a fresh document. */
function rebuild(updates: readonly Uint8Array[]): Y.Doc {
  const doc = new Y.Doc();
  for (const u of updates) Y.applyUpdate(doc, u);
  return doc;
}

function stateOf(doc: Y.Doc): unknown {
  return contentOf(doc);
}

/** A batch with one valid entry of every kind, for all-or-nothing tests. */
function validBatch(): WriteBatch {
  return {
    updates: [{ account: A, update: update(1, 2, 3) }],
    counts: [{ account: A, counts: counts(2, { t: 2 }) }],
    bindings: [{ account: A, clientId: 7, device: D1 }],
    idempotency: [{ account: A, key: 'k', response: '{"head":2}', at: 1_000 }],
  };
}

function assertNothingStored(store: SyncStore): void {
  assert.deepEqual(store.loadDoc(A), { updates: [], lastLogId: 0, logCount: 0, logBytes: 0 });
  assert.deepEqual(withDocuments(store, [A, B, C]), []);
  assert.equal(store.getCounts(A), null);
  assert.equal(store.loadBindings(A).size, 0);
  assert.equal(store.getIdempotent(A, 'k', 0), null);
}

export interface ContractOptions {
  /** Tests skipped, by exact title, where an implementation differs on purpose (said why where it is run). */
  readonly differs?: ReadonlySet<string>;
}

export function storeContract(name: string, makeStore: MakeStore, options: ContractOptions = {}): void {
  const test = (title: string, fn: () => void | Promise<void>): void => {
    (options.differs?.has(title) ? vitestTest.skip : vitestTest)(title, fn);
  };
  describe(`Store contract: ${name}`, () => {
    let store: SyncStore;
    beforeEach(() => {
      store = makeStore();
    });
    afterEach(() => {
      store.close();
    });

    test('[STORE-1] a committed batch is readable: updates, counts, bindings, idempotency', () => {
      store.commit(validBatch());
      const doc = store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['010203']);
      assert.equal(doc.logCount, 1);
      assert.deepEqual(store.getCounts(A), counts(2, { t: 2 }));
      assert.deepEqual(store.loadBindings(A), new Map([[7, D1]]));
      assert.equal(store.getIdempotent(A, 'k', 0), '{"head":2}');
    });

    test('[STORE-1] an empty batch is a no-op', () => {
      store.commit(EMPTY_BATCH);
      assertNothingStored(store);
    });

    test('[STORE-1] a batch is all-or-nothing: invalid data anywhere in it leaves nothing', () => {
      const bad: Array<[string, (b: WriteBatch) => WriteBatch]> = [
        ['empty update', (b) => ({ ...b, updates: [...b.updates, { account: A, update: update() }] })],
        [
          'update not bytes',
          (b) => ({ ...b, updates: [...b.updates, { account: A, update: 'x' as unknown as Uint8Array }] }),
        ],
        [
          'invalid account',
          (b) => ({ ...b, updates: [...b.updates, { account: 'a/b' as AccountId, update: update(1) }] }),
        ],
        ['negative badge', (b) => ({ ...b, counts: [...b.counts, { account: B, counts: counts(-1) }] })],
        ['fractional unread', (b) => ({ ...b, counts: [...b.counts, { account: B, counts: counts(1, { t: 1.5 }) }] })],
        ['negative client ID', (b) => ({ ...b, bindings: [...b.bindings, { account: A, clientId: -1, device: D2 }] })],
        [
          'idempotency time NaN',
          (b) => ({ ...b, idempotency: [...b.idempotency, { account: A, key: 'k2', response: '', at: Number.NaN }] }),
        ],
      ];
      for (const [what, spoil] of bad) {
        assert.throws(() => store.commit(spoil(validBatch())), TypeError, what);
        assertNothingStored(store);
      }
    });

    test('[STORE-1] a batch that throws mid-way leaves nothing, and the store still works', () => {
      const poisoned = {
        account: B,
        get counts(): AccountCounts {
          throw new Error('boom');
        },
      };
      const good = validBatch();
      assert.throws(() => store.commit({ ...good, counts: [...good.counts, poisoned] }), /boom/);
      assertNothingStored(store);
      store.commit(good);
      assert.equal(store.loadDoc(A).logCount, 1);
    });

    test('[STORE-1] the store keeps its own copy of the bytes', () => {
      const bytes = update(1, 2, 3);
      store.commit(batch({ updates: [{ account: A, update: bytes }] }));
      bytes[0] = 9;
      const loaded = store.loadDoc(A).updates[0]!;
      assert.equal(hex(loaded), '010203');
      loaded[1] = 9;
      assert.equal(hex(store.loadDoc(A).updates[0]!), '010203');
    });

    test('[STORE-2] an unknown account has no updates', () => {
      assert.deepEqual(store.loadDoc(A), { updates: [], lastLogId: 0, logCount: 0, logBytes: 0 });
    });

    test('[STORE-2] updates keep their order per account, within and across batches', () => {
      store.commit(batch({ updates: [1, 2, 3].map((n) => ({ account: n === 2 ? B : A, update: update(n) })) }));
      store.commit(batch({ updates: [{ account: A, update: update(4, 4) }] }));
      const a = store.loadDoc(A);
      assert.deepEqual(a.updates.map(hex), ['01', '03', '0404']);
      assert.equal(a.logCount, 3);
      assert.equal(a.logBytes, 4);
      const b = store.loadDoc(B);
      assert.deepEqual(b.updates.map(hex), ['02']);
      assert.ok(b.lastLogId > 0 && b.lastLogId < a.lastLogId);
    });

    test('[STORE-3] compaction keeps entries appended after throughLogId; the doc reconstructs the same', () => {
      const writer = new Y.Doc();
      const pending: Uint8Array[] = [];
      writer.on('update', (u: Uint8Array) => pending.push(u));
      const flush = () => store.commit(batch({ updates: pending.splice(0).map((u) => ({ account: A, update: u })) }));
      const heads = new KeyValueArray(writer, HEADS_ROOT);
      const phone = new KeyValueArray(writer, deviceRoot(D1));
      heads.set('t1', 3);
      phone.set('t1', 2);
      flush();
      heads.set('t2', 5);
      phone.set(muteKey('t2' as ThreadId), packMuteStamp(1, true));
      phone.set('t1', 3);
      flush();

      const loaded = store.loadDoc(A);
      const snapshot = Y.encodeStateAsUpdate(rebuild(loaded.updates));
      // Written after the load, before the compaction lands: must survive it.
      heads.set('t1', 4);
      flush();
      new KeyValueArray(writer, deviceRoot(D2)).set('t3', 1);
      flush();
      store.compact(A, snapshot, loaded.lastLogId);

      const after = store.loadDoc(A);
      assert.equal(hex(after.updates[0]!), hex(snapshot));
      assert.equal(after.updates.length, 3);
      assert.equal(after.logCount, 2);
      assert.ok(after.lastLogId > loaded.lastLogId);
      const replica = rebuild(after.updates);
      assert.deepEqual(stateOf(replica), stateOf(writer));
      assert.deepEqual(deriveCounts(replica), deriveCounts(writer));

      // And again, compacting everything.
      store.compact(A, Y.encodeStateAsUpdate(replica), after.lastLogId);
      const again = store.loadDoc(A);
      assert.equal(again.updates.length, 1);
      assert.equal(again.logCount, 0);
      assert.equal(again.logBytes, 0);
      assert.equal(again.lastLogId, after.lastLogId);
      assert.deepEqual(stateOf(rebuild(again.updates)), stateOf(writer));
    });

    test('[STORE-3] compacting one account leaves the others alone', () => {
      store.commit(batch({ updates: [A, B, A, B].map((account, i) => ({ account, update: update(i + 1) })) }));
      store.compact(A, update(0xaa), store.loadDoc(A).lastLogId);
      assert.deepEqual(store.loadDoc(A).updates.map(hex), ['aa']);
      assert.deepEqual(store.loadDoc(B).updates.map(hex), ['02', '04']);
    });

    test('[STORE-3] an older compaction never replaces a newer snapshot', () => {
      store.commit(batch({ updates: [1, 2, 3].map((n) => ({ account: A, update: update(n) })) }));
      const last = store.loadDoc(A).lastLogId;
      store.compact(A, update(0xbb), last);
      store.compact(A, update(0xaa), last - 1);
      const doc = store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['bb']);
      assert.deepEqual([doc.lastLogId, doc.logCount, doc.logBytes], [last, 0, 0]);
    });

    test('[STORE-3] compacting past the last issued log ID covers every entry so far, and no later one', () => {
      store.commit(batch({ updates: [A, B, A].map((account, i) => ({ account, update: update(i + 1) })) }));
      const last = store.loadDoc(A).lastLogId;
      store.compact(A, update(0xaa), Number.MAX_SAFE_INTEGER);
      const doc = store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aa']);
      assert.deepEqual([doc.lastLogId, doc.logCount, doc.logBytes], [last, 0, 0]);
      store.commit(batch({ updates: [{ account: A, update: update(4) }] }));
      assert.deepEqual(store.loadDoc(A).updates.map(hex), ['aa', '04']);
      assert.deepEqual(store.loadDoc(B).updates.map(hex), ['02']);
    });

    test('[STORE-3] a negative or fractional throughLogId is refused', () => {
      store.commit(batch({ updates: [{ account: A, update: update(1) }] }));
      assert.throws(() => store.compact(A, update(0xaa), -1), RangeError);
      assert.throws(() => store.compact(A, update(0xaa), 1.5), RangeError);
      assert.deepEqual(store.loadDoc(A).updates.map(hex), ['01']);
    });

    test('[STORE-3] log IDs are never reused after compaction', () => {
      store.commit(batch({ updates: [1, 2].map((n) => ({ account: A, update: update(n) })) }));
      const last = store.loadDoc(A).lastLogId;
      store.compact(A, update(0xaa), last);
      store.commit(batch({ updates: [{ account: A, update: update(3) }] }));
      const doc = store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aa', '03']);
      assert.equal(doc.lastLogId, last + 1);
    });

    test('[STORE-3] a snapshot alone is a stored document', () => {
      store.compact(A, update(0xaa), 0);
      assert.deepEqual(store.loadDoc(A).updates.map(hex), ['aa']);
      assert.deepEqual(withDocuments(store, [A, B, C]), [A]);
    });

    test('[STORE-4] bindings are per account; a client ID stays bound to its first device', () => {
      store.commit(
        batch({
          bindings: [
            { account: A, clientId: 1, device: D1 },
            { account: A, clientId: 2, device: SERVER_DEVICE },
            { account: B, clientId: 1, device: D2 },
          ],
        }),
      );
      store.commit(batch({ bindings: [{ account: A, clientId: 1, device: D2 }] }));
      assert.deepEqual(
        store.loadBindings(A),
        new Map<number, DeviceId>([
          [1, D1],
          [2, SERVER_DEVICE],
        ]),
      );
      assert.deepEqual(store.loadBindings(B), new Map([[1, D2]]));
      assert.deepEqual(store.loadBindings(C), new Map());
    });

    test('[STORE-5] counts round-trip and are replaced; the last in a batch wins', () => {
      assert.equal(store.getCounts(A), null);
      store.commit(batch({ counts: [{ account: A, counts: counts(3, { a: 1, b: 2, m: 4 }, ['m']) }] }));
      assert.deepEqual(store.getCounts(A), counts(3, { a: 1, b: 2, m: 4 }, ['m']));
      store.commit(
        batch({
          counts: [
            { account: A, counts: counts(1, { a: 1 }) },
            { account: A, counts: counts(0, { a: 0 }) },
          ],
        }),
      );
      assert.deepEqual(store.getCounts(A), counts(0, { a: 0 }));
    });

    test('[STORE-5] a thread named __proto__ survives the round-trip', () => {
      const threads = JSON.parse('{"__proto__": 2, "t": 1}') as Record<string, number>;
      store.commit(batch({ counts: [{ account: A, counts: counts(3, threads) }] }));
      const stored = store.getCounts(A)!;
      assert.deepEqual(Object.entries(stored.threads), [
        ['__proto__', 2],
        ['t', 1],
      ]);
    });

    test('[STORE-5] getBadges answers every account asked, 0 for the never counted', () => {
      store.commit(
        batch({
          counts: [
            { account: A, counts: counts(4, { t: 4 }) },
            { account: B, counts: counts(1, { t: 1 }) },
          ],
        }),
      );
      assert.deepEqual(
        store.getBadges([A, C]),
        new Map([
          [A, 4],
          [C, 0],
        ]),
      );
      assert.deepEqual(store.getBadges([]), new Map());
    });

    test('[STORE-6] an answer is returned at or after notBefore, per account and key', () => {
      store.commit(batch({ idempotency: [{ account: A, key: 'k1', response: 'first', at: 1_000 }] }));
      assert.equal(store.getIdempotent(A, 'k1', 1_000), 'first');
      assert.equal(store.getIdempotent(A, 'k1', 1_001), null);
      assert.equal(store.getIdempotent(B, 'k1', 0), null);
      assert.equal(store.getIdempotent(A, 'k2', 0), null);
      // Past the window, the key may be used again: the new answer replaces the old.
      store.commit(batch({ idempotency: [{ account: A, key: 'k1', response: 'second', at: 90_000 }] }));
      assert.equal(store.getIdempotent(A, 'k1', 80_000), 'second');
    });

    test('[STORE-6] purge deletes only answers older than `before`, across accounts', () => {
      store.commit(
        batch({
          idempotency: [
            { account: A, key: 'k1', response: 'a1', at: 1_000 },
            { account: B, key: 'k1', response: 'b1', at: 2_000 },
            { account: A, key: 'k2', response: 'a2', at: 3_000 },
          ],
        }),
      );
      assert.equal(store.purgeIdempotent(2_000), 1);
      assert.equal(store.getIdempotent(A, 'k1', 0), null);
      assert.equal(store.getIdempotent(B, 'k1', 0), 'b1');
      assert.equal(store.getIdempotent(A, 'k2', 0), 'a2');
      assert.equal(store.purgeIdempotent(2_000), 0);
      assert.equal(store.purgeIdempotent(Number.MAX_SAFE_INTEGER), 2);
    });

    storeDevicesContract(() => store);
    storePushContract(() => store);

    test('[STORE-9] meta keeps small settings; set replaces', () => {
      assert.equal(store.getMeta('device_secret'), null);
      store.setMeta('device_secret', 'one');
      store.setMeta('device_secret', 'two');
      assert.equal(store.getMeta('device_secret'), 'two');
      assert.equal(store.getMeta('api_key'), null);
    });

    test('[STORE-2] counts alone are no document; compaction keeps one', () => {
      store.commit(batch({ updates: [A, B, A].map((account) => ({ account, update: update(1) })) }));
      store.commit(batch({ counts: [{ account: C, counts: counts(0) }] }));
      assert.deepEqual(withDocuments(store, [A, B, C]), [A, B]);
      store.compact(A, update(0xaa), store.loadDoc(A).lastLogId);
      assert.deepEqual(withDocuments(store, [A, B, C]), [A, B]);
    });

    test('[STORE-9] a closed store refuses every call', () => {
      store.close();
      assert.throws(() => store.loadDoc(A));
      assert.throws(() => store.commit(EMPTY_BATCH));
      assert.throws(() => store.getMeta('x'));
      assert.throws(() => store.putDevice(A, D1, {}, 0));
      store.close();
    });
  });
}
