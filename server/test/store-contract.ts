/**
 * The store contract suite (SPEC STORE-1..STORE-9): every Store implementation runs it, as the
 * server uses it (every call answers through a promise, each awaited). MemoryStore is the
 * reference; an implementation passes when it behaves the same.
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
import type { Store, WriteBatch } from '../src/store/index.js';
import { contentOf } from './room-rig.js';
import { storeDevicesContract } from './store-contract-devices.js';
import { type ContractOptions, type MakeStore, withDocuments } from './store-contract-fixtures.js';
import { storePushContract } from './store-contract-push.js';
import { A, B, batch, C, D1, D2, EMPTY_BATCH, hex } from './store-fixtures.js';

export type { ContractOptions, MakeStore } from './store-contract-fixtures.js';

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

async function assertNothingStored(store: Store): Promise<void> {
  assert.deepEqual(await store.loadDoc(A), { updates: [], lastLogId: 0, logCount: 0, logBytes: 0 });
  assert.deepEqual(await withDocuments(store, [A, B, C]), []);
  assert.equal(await store.getCounts(A), null);
  assert.equal((await store.loadBindings(A)).size, 0);
  assert.equal(await store.getIdempotent(A, 'k', 0), null);
}

export function storeContract(name: string, makeStore: MakeStore, options: ContractOptions = {}): void {
  const test = (title: string, fn: () => void | Promise<void>): void => {
    (options.differs?.has(title) ? vitestTest.skip : vitestTest)(title, fn);
  };
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    test('[STORE-1] a committed batch is readable: updates, counts, bindings, idempotency', async () => {
      await store.commit(validBatch());
      const doc = await store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['010203']);
      assert.equal(doc.logCount, 1);
      assert.deepEqual(await store.getCounts(A), counts(2, { t: 2 }));
      assert.deepEqual(await store.loadBindings(A), new Map([[7, D1]]));
      assert.equal(await store.getIdempotent(A, 'k', 0), '{"head":2}');
    });

    test('[STORE-1] an empty batch is a no-op', async () => {
      await store.commit(EMPTY_BATCH);
      await assertNothingStored(store);
    });

    test('[STORE-1] a batch is all-or-nothing: invalid data anywhere in it leaves nothing', async () => {
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
        await assert.rejects(store.commit(spoil(validBatch())), TypeError, what);
        await assertNothingStored(store);
      }
    });

    test('[STORE-1] a batch that throws mid-way leaves nothing, and the store still works', async () => {
      const poisoned = {
        account: B,
        get counts(): AccountCounts {
          throw new Error('boom');
        },
      };
      const good = validBatch();
      await assert.rejects(store.commit({ ...good, counts: [...good.counts, poisoned] }), /boom/);
      await assertNothingStored(store);
      await store.commit(good);
      assert.equal((await store.loadDoc(A)).logCount, 1);
    });

    test('[STORE-1] the store keeps its own copy of the bytes', async () => {
      const bytes = update(1, 2, 3);
      await store.commit(batch({ updates: [{ account: A, update: bytes }] }));
      bytes[0] = 9;
      const loaded = (await store.loadDoc(A)).updates[0]!;
      assert.equal(hex(loaded), '010203');
      loaded[1] = 9;
      assert.equal(hex((await store.loadDoc(A)).updates[0]!), '010203');
    });

    test('[STORE-2] an unknown account has no updates', async () => {
      assert.deepEqual(await store.loadDoc(A), { updates: [], lastLogId: 0, logCount: 0, logBytes: 0 });
    });

    test('[STORE-2] updates keep their order per account, within and across batches', async () => {
      await store.commit(batch({ updates: [1, 2, 3].map((n) => ({ account: n === 2 ? B : A, update: update(n) })) }));
      await store.commit(batch({ updates: [{ account: A, update: update(4, 4) }] }));
      const a = await store.loadDoc(A);
      assert.deepEqual(a.updates.map(hex), ['01', '03', '0404']);
      assert.equal(a.logCount, 3);
      assert.equal(a.logBytes, 4);
      const b = await store.loadDoc(B);
      assert.deepEqual(b.updates.map(hex), ['02']);
      assert.ok(b.lastLogId > 0 && b.lastLogId < a.lastLogId);
    });

    test('[STORE-3] compaction keeps entries appended after throughLogId; the doc reconstructs the same', async () => {
      const writer = new Y.Doc();
      const pending: Uint8Array[] = [];
      writer.on('update', (u: Uint8Array) => pending.push(u));
      const flush = () => store.commit(batch({ updates: pending.splice(0).map((u) => ({ account: A, update: u })) }));
      const heads = new KeyValueArray(writer, HEADS_ROOT);
      const phone = new KeyValueArray(writer, deviceRoot(D1));
      heads.set('t1', 3);
      phone.set('t1', 2);
      await flush();
      heads.set('t2', 5);
      phone.set(muteKey('t2' as ThreadId), packMuteStamp(1, true));
      phone.set('t1', 3);
      await flush();

      const loaded = await store.loadDoc(A);
      const snapshot = Y.encodeStateAsUpdate(rebuild(loaded.updates));
      // Written after the load, before the compaction lands: must survive it.
      heads.set('t1', 4);
      await flush();
      new KeyValueArray(writer, deviceRoot(D2)).set('t3', 1);
      await flush();
      await store.compact(A, snapshot, loaded.lastLogId);

      const after = await store.loadDoc(A);
      assert.equal(hex(after.updates[0]!), hex(snapshot));
      assert.equal(after.updates.length, 3);
      assert.equal(after.logCount, 2);
      assert.ok(after.lastLogId > loaded.lastLogId);
      const replica = rebuild(after.updates);
      assert.deepEqual(stateOf(replica), stateOf(writer));
      assert.deepEqual(deriveCounts(replica), deriveCounts(writer));

      // And again, compacting everything.
      await store.compact(A, Y.encodeStateAsUpdate(replica), after.lastLogId);
      const again = await store.loadDoc(A);
      assert.equal(again.updates.length, 1);
      assert.equal(again.logCount, 0);
      assert.equal(again.logBytes, 0);
      assert.equal(again.lastLogId, after.lastLogId);
      assert.deepEqual(stateOf(rebuild(again.updates)), stateOf(writer));
    });

    test('[STORE-3] compacting one account leaves the others alone', async () => {
      await store.commit(batch({ updates: [A, B, A, B].map((account, i) => ({ account, update: update(i + 1) })) }));
      await store.compact(A, update(0xaa), (await store.loadDoc(A)).lastLogId);
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['aa']);
      assert.deepEqual((await store.loadDoc(B)).updates.map(hex), ['02', '04']);
    });

    test('[STORE-3] an older compaction never replaces a newer snapshot', async () => {
      await store.commit(batch({ updates: [1, 2, 3].map((n) => ({ account: A, update: update(n) })) }));
      const last = (await store.loadDoc(A)).lastLogId;
      await store.compact(A, update(0xbb), last);
      await store.compact(A, update(0xaa), last - 1);
      const doc = await store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['bb']);
      assert.deepEqual([doc.lastLogId, doc.logCount, doc.logBytes], [last, 0, 0]);
    });

    test('[STORE-3] compacting past the last issued log ID covers every entry so far, and no later one', async () => {
      await store.commit(batch({ updates: [A, B, A].map((account, i) => ({ account, update: update(i + 1) })) }));
      const last = (await store.loadDoc(A)).lastLogId;
      await store.compact(A, update(0xaa), Number.MAX_SAFE_INTEGER);
      const doc = await store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aa']);
      assert.deepEqual([doc.lastLogId, doc.logCount, doc.logBytes], [last, 0, 0]);
      await store.commit(batch({ updates: [{ account: A, update: update(4) }] }));
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['aa', '04']);
      assert.deepEqual((await store.loadDoc(B)).updates.map(hex), ['02']);
    });

    test('[STORE-3] a negative or fractional throughLogId is refused', async () => {
      await store.commit(batch({ updates: [{ account: A, update: update(1) }] }));
      await assert.rejects(store.compact(A, update(0xaa), -1), RangeError);
      await assert.rejects(store.compact(A, update(0xaa), 1.5), RangeError);
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['01']);
    });

    test('[STORE-3] log IDs are never reused after compaction', async () => {
      await store.commit(batch({ updates: [1, 2].map((n) => ({ account: A, update: update(n) })) }));
      const last = (await store.loadDoc(A)).lastLogId;
      await store.compact(A, update(0xaa), last);
      await store.commit(batch({ updates: [{ account: A, update: update(3) }] }));
      const doc = await store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aa', '03']);
      assert.equal(doc.lastLogId, last + 1);
    });

    test('[STORE-3] a snapshot alone is a stored document', async () => {
      await store.compact(A, update(0xaa), 0);
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['aa']);
      assert.deepEqual(await withDocuments(store, [A, B, C]), [A]);
    });

    test('[STORE-4] bindings are per account; a client ID stays bound to its first device', async () => {
      await store.commit(
        batch({
          bindings: [
            { account: A, clientId: 1, device: D1 },
            { account: A, clientId: 2, device: SERVER_DEVICE },
            { account: B, clientId: 1, device: D2 },
          ],
        }),
      );
      await store.commit(batch({ bindings: [{ account: A, clientId: 1, device: D2 }] }));
      assert.deepEqual(
        await store.loadBindings(A),
        new Map<number, DeviceId>([
          [1, D1],
          [2, SERVER_DEVICE],
        ]),
      );
      assert.deepEqual(await store.loadBindings(B), new Map([[1, D2]]));
      assert.deepEqual(await store.loadBindings(C), new Map());
    });

    test('[STORE-5] counts round-trip and are replaced; the last in a batch wins', async () => {
      assert.equal(await store.getCounts(A), null);
      await store.commit(batch({ counts: [{ account: A, counts: counts(3, { a: 1, b: 2, m: 4 }, ['m']) }] }));
      assert.deepEqual(await store.getCounts(A), counts(3, { a: 1, b: 2, m: 4 }, ['m']));
      await store.commit(
        batch({
          counts: [
            { account: A, counts: counts(1, { a: 1 }) },
            { account: A, counts: counts(0, { a: 0 }) },
          ],
        }),
      );
      assert.deepEqual(await store.getCounts(A), counts(0, { a: 0 }));
    });

    test('[STORE-5][STORE-15] one batch of several accounts, whole and changed entries, two of one account: as written one by one', async () => {
      await store.commit(
        batch({
          counts: [
            { account: A, counts: counts(5, { a: 1, b: 2, c: 2 }, ['c']) },
            { account: B, counts: counts(4, { x: 4, y: 0 }, ['y']) },
          ],
        }),
      );
      await store.commit(
        batch({
          counts: [
            // A: b changed, c gone and unmuted, d new and muted; a untouched.
            { account: A, counts: counts(6, { a: 1, b: 3, d: 2 }, ['d']), changed: ['b', 'c', 'd'] },
            // B replaced whole: y and its mute gone, z new.
            { account: B, counts: counts(1, { x: 0, z: 1 }, ['x']) },
            { account: C, counts: counts(2, { q: 2 }), changed: ['q'] },
            // A again in the same batch: its second entry applies over its first.
            { account: A, counts: counts(7, { a: 2, b: 3, d: 2 }, ['a']), changed: ['a', 'd'] },
          ],
        }),
      );
      assert.deepEqual(await store.getCounts(A), counts(7, { a: 2, b: 3, d: 2 }, ['a']));
      assert.deepEqual(await store.getCounts(B), counts(1, { x: 0, z: 1 }, ['x']));
      assert.deepEqual(await store.getCounts(C), counts(2, { q: 2 }));
    });

    test('[STORE-5] a thread named __proto__ survives the round-trip', async () => {
      const threads = JSON.parse('{"__proto__": 2, "t": 1}') as Record<string, number>;
      await store.commit(batch({ counts: [{ account: A, counts: counts(3, threads) }] }));
      const stored = (await store.getCounts(A))!;
      assert.deepEqual(Object.entries(stored.threads), [
        ['__proto__', 2],
        ['t', 1],
      ]);
    });

    test('[STORE-5] getBadges answers every account asked, 0 for the never counted', async () => {
      await store.commit(
        batch({
          counts: [
            { account: A, counts: counts(4, { t: 4 }) },
            { account: B, counts: counts(1, { t: 1 }) },
          ],
        }),
      );
      assert.deepEqual(
        await store.getBadges([A, C]),
        new Map([
          [A, 4],
          [C, 0],
        ]),
      );
      assert.deepEqual(await store.getBadges([]), new Map());
    });

    test('[STORE-6] an answer is returned at or after notBefore, per account and key', async () => {
      await store.commit(batch({ idempotency: [{ account: A, key: 'k1', response: 'first', at: 1_000 }] }));
      assert.equal(await store.getIdempotent(A, 'k1', 1_000), 'first');
      assert.equal(await store.getIdempotent(A, 'k1', 1_001), null);
      assert.equal(await store.getIdempotent(B, 'k1', 0), null);
      assert.equal(await store.getIdempotent(A, 'k2', 0), null);
      // Past the window, the key may be used again: the new answer replaces the old.
      await store.commit(batch({ idempotency: [{ account: A, key: 'k1', response: 'second', at: 90_000 }] }));
      assert.equal(await store.getIdempotent(A, 'k1', 80_000), 'second');
    });

    test('[STORE-6] purge deletes only answers older than `before`, across accounts', async () => {
      await store.commit(
        batch({
          idempotency: [
            { account: A, key: 'k1', response: 'a1', at: 1_000 },
            { account: B, key: 'k1', response: 'b1', at: 2_000 },
            { account: A, key: 'k2', response: 'a2', at: 3_000 },
          ],
        }),
      );
      assert.equal(await store.purgeIdempotent(2_000), 1);
      assert.equal(await store.getIdempotent(A, 'k1', 0), null);
      assert.equal(await store.getIdempotent(B, 'k1', 0), 'b1');
      assert.equal(await store.getIdempotent(A, 'k2', 0), 'a2');
      assert.equal(await store.purgeIdempotent(2_000), 0);
      assert.equal(await store.purgeIdempotent(Number.MAX_SAFE_INTEGER), 2);
    });

    storeDevicesContract(() => store);
    storePushContract(() => store);

    test('[STORE-9] meta keeps small settings; set replaces', async () => {
      assert.equal(await store.getMeta('device_secret'), null);
      await store.setMeta('device_secret', 'one');
      await store.setMeta('device_secret', 'two');
      assert.equal(await store.getMeta('device_secret'), 'two');
      assert.equal(await store.getMeta('api_key'), null);
    });

    test('[STORE-30] claimMeta stores a value only where none is, and answers the one stored', async () => {
      assert.equal(await store.claimMeta('secret', 'first'), 'first');
      assert.equal(await store.claimMeta('secret', 'second'), 'first');
      assert.equal(await store.getMeta('secret'), 'first');
      await store.setMeta('secret', 'set');
      assert.equal(await store.claimMeta('secret', 'third'), 'set');
      const racing = await Promise.all(['a', 'b', 'c'].map((value) => store.claimMeta('raced', value)));
      assert.deepEqual(racing, ['a', 'a', 'a']);
    });

    test('[STORE-2] counts alone are no document; compaction keeps one', async () => {
      await store.commit(batch({ updates: [A, B, A].map((account) => ({ account, update: update(1) })) }));
      await store.commit(batch({ counts: [{ account: C, counts: counts(0) }] }));
      assert.deepEqual(await withDocuments(store, [A, B, C]), [A, B]);
      await store.compact(A, update(0xaa), (await store.loadDoc(A)).lastLogId);
      assert.deepEqual(await withDocuments(store, [A, B, C]), [A, B]);
    });

    test('[STORE-9] a closed store refuses every call', async () => {
      await store.close();
      await assert.rejects(store.loadDoc(A));
      await assert.rejects(store.commit(EMPTY_BATCH));
      await assert.rejects(store.getMeta('x'));
      await assert.rejects(store.putDevice(A, D1, {}, 0));
      await store.close();
    });
  });
}
