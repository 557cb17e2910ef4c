/**
 * The store contract for replacing a whole document (SPEC STORE-16), run against every Store:
 * what the v1 → v2 migration writes when an account loads. The snapshot, its client bindings
 * and its counts land together or not at all; bindings already stored stay.
 */
import assert from 'node:assert/strict';
import { SERVER_DEVICE } from '@badgesync/shared';
import { afterEach, beforeEach, describe, test } from 'vitest';
import type { DocReplacement, Store } from '../src/store/index.js';
import type { MakeStore } from './store-contract-fixtures.js';
import { A, B, batch, D1, D2, hex } from './store-fixtures.js';

const V2_COUNTS = { badge: 4, threads: { inbox: 4, news: 0 }, muted: ['news'] };

function replacement(throughLogId: number, overrides: Partial<DocReplacement> = {}): DocReplacement {
  return {
    snapshot: new Uint8Array([0xaa, 0xbb]),
    throughLogId,
    bindings: [{ clientId: 500, device: SERVER_DEVICE }],
    counts: V2_COUNTS,
    ...overrides,
  };
}

/** A v1-like document: a snapshot, then a log after it, bindings and counts. */
async function seed(store: Store): Promise<number> {
  await store.commit(batch({ updates: [1, 2].map((n) => ({ account: A, update: new Uint8Array([n]) })) }));
  await store.compact(A, new Uint8Array([0x10]), (await store.loadDoc(A)).lastLogId);
  await store.commit(
    batch({
      updates: [
        { account: A, update: new Uint8Array([3]) },
        { account: B, update: new Uint8Array([0x0b]) },
        { account: A, update: new Uint8Array([4]) },
      ],
      counts: [{ account: A, counts: { badge: 4, threads: { inbox: 4, old: 1 }, muted: [] } }],
      bindings: [
        { account: A, clientId: 7, device: D1 },
        { account: A, clientId: 8, device: D2 },
      ],
    }),
  );
  return (await store.loadDoc(A)).lastLogId;
}

export function storeReplaceContract(name: string, makeStore: MakeStore): void {
  describe(`Store contract, replacing a document: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    test('[STORE-16] the snapshot replaces the old snapshot and the whole log; bindings are added, counts replaced', async () => {
      const last = await seed(store);
      await store.replaceDoc(A, replacement(last));
      const doc = await store.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aabb']);
      assert.deepEqual([doc.lastLogId, doc.logCount, doc.logBytes], [last, 0, 0]);
      assert.deepEqual(
        await store.loadBindings(A),
        new Map([
          [7, D1],
          [8, D2],
          [500, SERVER_DEVICE],
        ]),
        'the devices’ bindings stay',
      );
      assert.deepEqual(await store.getCounts(A), V2_COUNTS, 'the old thread is gone: counts are replaced whole');
      assert.deepEqual((await store.loadDoc(B)).updates.map(hex), ['0b'], 'other accounts untouched');
      // Later entries append after the snapshot, as after a compaction.
      await store.commit(batch({ updates: [{ account: A, update: new Uint8Array([5]) }] }));
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['aabb', '05']);
    });

    test('[STORE-16] entries after throughLogId stay after the new snapshot', async () => {
      const last = await seed(store);
      await store.commit(batch({ updates: [{ account: A, update: new Uint8Array([9]) }] }));
      await store.replaceDoc(A, replacement(last));
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['aabb', '09']);
    });

    test('[STORE-16] a replacement is all or nothing: a bad part, or a throughLogId older than the snapshot, writes nothing', async () => {
      const last = await seed(store);
      const before = {
        doc: await store.loadDoc(A),
        bindings: await store.loadBindings(A),
        counts: await store.getCounts(A),
      };
      const unchanged = async () => {
        const doc = await store.loadDoc(A);
        assert.deepEqual(doc.updates.map(hex), before.doc.updates.map(hex));
        assert.equal(doc.lastLogId, before.doc.lastLogId);
        assert.deepEqual(await store.loadBindings(A), before.bindings);
        assert.deepEqual(await store.getCounts(A), before.counts);
      };
      await assert.rejects(store.replaceDoc(A, replacement(last, { counts: { badge: -1, threads: {}, muted: [] } })));
      await unchanged();
      await assert.rejects(
        store.replaceDoc(A, replacement(last, { bindings: [{ clientId: -3, device: SERVER_DEVICE }] })),
      );
      await unchanged();
      await assert.rejects(store.replaceDoc(A, replacement(last, { snapshot: new Uint8Array() })));
      await unchanged();
      await assert.rejects(store.replaceDoc(A, replacement(1.5)), RangeError);
      await unchanged();
      // The stored snapshot covers entries up to its own ID; the caller saw fewer.
      await store.compact(A, new Uint8Array([0x20]), last);
      const compacted = (await store.loadDoc(A)).updates.map(hex);
      await assert.rejects(store.replaceDoc(A, replacement(last - 1)), RangeError);
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), compacted);
      assert.deepEqual(await store.loadBindings(A), before.bindings);
    });
  });
}
