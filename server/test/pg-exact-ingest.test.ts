/**
 * Exact ingest and counts across nodes (docs/CLUSTER.md "Exact ingest and counts", SPEC
 * STORE-26..STORE-28): two stores (two pools, as two nodes) on one fresh database, each with its
 * own replica of one account, writing at the same moment.
 */
import assert from 'node:assert/strict';
import {
  type AccountId,
  type DeviceId,
  EMPTY_COUNTS,
  parseAccountId,
  parseDeviceId,
  parseThreadId,
  type ThreadId,
} from '@badgesync/shared';
import fc from 'fast-check';
import { beforeEach, describe, test } from 'vitest';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import { PgStore } from '../src/store/index.js';
import { connect, emptyTables, useMigratedDatabase } from './pg-database.js';
import { countsOfStoredLog, type IngestAnswer, ReplicaNode } from './pg-replica-node.js';
import { A } from './store-fixtures.js';

const INBOX = parseThreadId('inbox');
const PHONE = parseDeviceId('phone');

const database = useMigratedDatabase();
beforeEach(async () => {
  const own = await connect(database().url);
  try {
    await emptyTables(own);
  } finally {
    await own.end();
  }
});

/** Runs `work` with two nodes (two pools) holding a replica of `account` each, closed after. */
async function withTwoNodes(
  account: AccountId,
  work: (one: ReplicaNode, two: ReplicaNode) => Promise<void>,
): Promise<void> {
  const [s1, s2] = await Promise.all([PgStore.open({ url: database().url }), PgStore.open({ url: database().url })]);
  const one = new ReplicaNode(s1, account);
  const two = new ReplicaNode(s2, account);
  try {
    await work(one, two);
  } finally {
    one.close();
    two.close();
    await Promise.all([s1.close(), s2.close()]);
  }
}

describe('exact ingest across nodes', () => {
  test('[STORE-26] two nodes posting items to one thread at once: every head given once, the stored head is the number of items', async () => {
    await withTwoNodes(A, async (one, two) => {
      const PER_NODE = 25;
      const answers: Promise<IngestAnswer>[] = [];
      // Every request at once, on both nodes: each node's calls queue on its own store, the
      // two stores meet at the account's lock.
      for (let i = 0; i < PER_NODE; i++) answers.push(one.ingest(INBOX, 1), two.ingest(INBOX, 1));
      const heads = (await Promise.all(answers)).map((answer) => answer.head).sort((x, y) => x - y);
      const total = 2 * PER_NODE;
      assert.deepEqual(
        heads,
        Array.from({ length: total }, (_, i) => i + 1),
        'heads 1..n, each answered once',
      );
      const stored = await countsOfStoredLog(one.store, A);
      assert.equal(stored.threads[INBOX], total, 'the stored log holds every item');
      assert.deepEqual(await one.store.getCounts(A), stored, 'stored counts are those of the whole log');
      assert.equal((await one.store.logSeqs([A])).get(A), total, 'one log entry per ingest');
    });
  });

  test('[STORE-26] ingests of several counts on both nodes, interleaved with catch-ups: the head is the sum', async () => {
    await withTwoNodes(A, async (one, two) => {
      const counts = [3, 1, 7, 2, 5, 4, 6, 1, 2, 9];
      const work = (node: ReplicaNode) =>
        (async () => {
          for (const [i, count] of counts.entries()) {
            await node.ingest(INBOX, count);
            if (i % 3 === 0) await node.catchUp();
          }
        })();
      await Promise.all([work(one), work(two)]);
      const sum = 2 * counts.reduce((a, b) => a + b, 0);
      assert.equal((await countsOfStoredLog(two.store, A)).threads[INBOX], sum);
      assert.equal((await two.store.getCounts(A))?.threads[INBOX], sum);
    });
  });

  test('[STORE-28] one idempotency key sent to two nodes at once is applied once; both answer the same', async () => {
    await withTwoNodes(A, async (one, two) => {
      const KEYS = 20;
      for (let i = 0; i < KEYS; i++) {
        const key = `msg-${i}`;
        // Both nodes at once, and a repeat on the first node queued behind its own call.
        const [a, b, c] = await Promise.all([
          one.ingest(INBOX, 2, key),
          two.ingest(INBOX, 2, key),
          one.ingest(INBOX, 2, key),
        ]);
        assert.deepEqual(a, b, `${key}: both nodes answer the first answer`);
        assert.deepEqual(a, c, `${key}: the repeat answers it too`);
        assert.equal(a.head, 2 * (i + 1), `${key}: applied once`);
      }
      assert.equal(one.stats.ingests + two.stats.ingests, KEYS, 'one write per key');
      assert.equal(one.stats.stored + two.stats.stored, 2 * KEYS, 'every repeat answered from the store');
      assert.equal((await countsOfStoredLog(one.store, A)).threads[INBOX], 2 * KEYS);
    });
  });

  test("[STORE-27] counts from a replica missing another node's entry are not written, reported, then written whole from the caught-up replica", async () => {
    await withTwoNodes(A, async (one, two) => {
      await one.ingest(INBOX, 5);
      // Node two has not heard of the ingest: its replica knows no head, the read changes nothing there.
      assert.equal(two.watermark, 0);
      const before = await one.store.getCounts(A);
      assert.equal(before?.badge, 5);
      await two.store
        .commitReporting({
          updates: [],
          counts: [{ account: A, counts: EMPTY_COUNTS, heldThrough: 0 }],
          bindings: [],
          idempotency: [],
        })
        .then((report) => assert.deepEqual(report.staleCounts, [A], 'reported stale'));
      assert.deepEqual(await one.store.getCounts(A), before, 'the exact counts stay');
      // A device read through node two's stale replica: its commit's counts are left out, then
      // repaired from the whole log.
      await two.catchUp();
      await one.ingest(INBOX, 2);
      await two.readMarker(PHONE, INBOX, 1);
      assert.equal(two.stats.stale, 1, 'the stale commit was reported');
      assert.deepEqual(await two.store.getCounts(A), await countsOfStoredLog(two.store, A));
      assert.equal((await two.store.getCounts(A))?.badge, 2, 'read up to 5 of 7 items');
    });
  });
});

describe('exact counts under random interleavings', () => {
  const THREADS = ['inbox', 'news', 'dm'].map(parseThreadId);
  const DEVICES = ['phone', 'mac'].map(parseDeviceId);
  type Op =
    | { readonly kind: 'ingest'; readonly thread: ThreadId; readonly count: number }
    | { readonly kind: 'read'; readonly device: DeviceId; readonly thread: ThreadId; readonly fraction: number }
    | { readonly kind: 'catchUp' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('ingest' as const),
      thread: fc.constantFrom(...THREADS),
      count: fc.integer({ min: 1, max: 5 }),
    }),
    fc.record({
      kind: fc.constant('read' as const),
      device: fc.constantFrom(...DEVICES),
      thread: fc.constantFrom(...THREADS),
      fraction: fc.constantFrom(0.25, 0.5, 0.75, 1),
    }),
    fc.record({ kind: fc.constant('catchUp' as const) }),
  );
  /** One step: an op on one node, or one on each at the same moment. */
  const step = fc.oneof(fc.record({ one: op }), fc.record({ two: op }), fc.record({ one: op, two: op }));
  const history = fc.array(step, { minLength: 5, maxLength: 40 });
  async function play(node: ReplicaNode, o: Op): Promise<void> {
    if (o.kind === 'ingest') await node.ingest(o.thread, o.count);
    else if (o.kind === 'read') await node.readMarker(o.device, o.thread, o.fraction);
    else await node.catchUp();
  }

  test('[STORE-27] [STORE-26] device markers and ingests on two nodes, one at a time and at once: after every step the stored counts are those of the whole stored log', async () => {
    let run = 0;
    const totals = { ingests: 0, markers: 0, stale: 0, repairs: 0 };
    await fc.assert(
      fc.asyncProperty(history, async (steps) => {
        const account = parseAccountId(`acct-${run++}`);
        await withTwoNodes(account, async (one, two) => {
          for (const [i, s] of steps.entries()) {
            const ops: Promise<void>[] = [];
            if ('one' in s) ops.push(play(one, s.one));
            if ('two' in s) ops.push(play(two, s.two));
            await Promise.all(ops);
            const whole = await countsOfStoredLog(one.store, account);
            const stored = (await one.store.getCounts(account)) ?? EMPTY_COUNTS;
            assert.deepEqual(stored, whole, `after step ${i}: stored counts are the whole log's`);
          }
          for (const node of [one, two]) {
            for (const key of Object.keys(totals) as (keyof typeof totals)[]) totals[key] += node.stats[key];
          }
        });
      }),
      propertyParams('exact counts across two nodes', 25),
    );
    console.log('[exact counts across two nodes] totals', totals);
  });
});
