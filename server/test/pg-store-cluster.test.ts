/**
 * What the PostgreSQL store adds for the cluster mode, and what only a shared database can get
 * wrong: two stores (two pools, as two nodes) on one fresh database, dropped at the end.
 */
import assert from 'node:assert/strict';
import { type AccountId, parseAccountId } from '@badgesync/shared';
import pg from 'pg';
import { describe, test } from 'vitest';
import { resolveVapidKeys } from '../src/push/webpush-keys.js';
import { resolveSecrets } from '../src/secrets.js';
import { type OutboxEntry, PgStore, type WriteBatch } from '../src/store/index.js';
import { useEmptiedDatabase } from './pg-database.js';
import { A, B, batch, hex } from './store-fixtures.js';

const NO_VAPID = { vapidPublicKey: null, vapidPrivateKey: null, vapidSubject: null };

const fixture = useEmptiedDatabase();

/** Runs `work` with two stores on the database (two nodes), closed after. */
async function withTwo(work: (one: PgStore, two: PgStore) => Promise<void>): Promise<void> {
  const [one, two] = await Promise.all([PgStore.open({ url: fixture.db.url }), PgStore.open({ url: fixture.db.url })]);
  try {
    await work(one, two);
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}

/** An update whose bytes say who wrote it: node, batch, index. */
function tagged(node: number, n: number, i: number): Uint8Array {
  return new Uint8Array([node, n, i]);
}

function outboxEntry(token: string, dueAt: number, extra: Partial<OutboxEntry> = {}): OutboxEntry {
  return { token, badge: 1, changedAt: dueAt, dueAt, attempts: 0, parked: false, ...extra };
}

describe('PgStore: per-account log seqs', () => {
  test('[STORE-20] two nodes committing to one account at once get contiguous seqs, none twice, and loadDoc has every update in seq order', async () => {
    await withTwo(async (one, two) => {
      const BATCHES = 15;
      const written = new Map<number, string>();
      const commits: Promise<void>[] = [];
      for (const [node, store] of [
        [1, one],
        [2, two],
      ] as const) {
        for (let n = 0; n < BATCHES; n++) {
          const updates: WriteBatch['updates'] = [
            { account: A, update: tagged(node, n, 0) },
            { account: B, update: tagged(node, n, 1) },
            { account: A, update: tagged(node, n, 2) },
          ];
          commits.push(
            store.commitWithSeqs(batch({ updates })).then((seqs) => {
              assert.equal(seqs.length, updates.length);
              seqs.forEach(({ account, seq }, i) => {
                assert.equal(account, updates[i]?.account);
                if (account === A) written.set(seq, hex(updates[i]?.update as Uint8Array));
              });
              // One batch's entries of an account are consecutive, in batch order.
              assert.equal((seqs[2]?.seq ?? 0) - (seqs[0]?.seq ?? 0), 1);
            }),
          );
        }
      }
      await Promise.all(commits);
      const total = 2 * BATCHES * 2;
      assert.deepEqual(
        [...written.keys()].sort((x, y) => x - y),
        Array.from({ length: total }, (_, i) => i + 1),
        'seqs 1..n, each once',
      );
      for (const store of [one, two]) {
        const doc = await store.loadDoc(A);
        assert.equal(doc.lastLogId, total);
        assert.deepEqual(
          doc.updates.map(hex),
          Array.from({ length: total }, (_, i) => written.get(i + 1)),
        );
        assert.equal((await store.loadDoc(B)).lastLogId, 2 * BATCHES);
      }
      assert.deepEqual(
        await one.logSeqs([A, B, parseAccountId('nobody')]),
        new Map<AccountId, number>([
          [A, total],
          [B, 2 * BATCHES],
          [parseAccountId('nobody'), 0],
        ]),
      );
    });
  });

  test('[STORE-20] a commit that fails leaves no hole: the next one gets the seq it would have had', async () => {
    await withTwo(async (one) => {
      await one.commit(batch({ updates: [{ account: A, update: tagged(1, 0, 0) }] }));
      // A thread name PostgreSQL cannot store (NUL) fails the transaction after its seqs were taken.
      const failing = batch({
        updates: [{ account: A, update: tagged(1, 1, 0) }],
        counts: [{ account: A, counts: { badge: 1, threads: { 'a\u0000b': 1 }, muted: [] } }],
      });
      await assert.rejects(one.commit(failing));
      const [next] = await one.commitWithSeqs(batch({ updates: [{ account: A, update: tagged(1, 2, 0) }] }));
      assert.deepEqual(next, { account: A, seq: 2 });
      assert.deepEqual((await one.loadDoc(A)).updates.map(hex), ['010000', '010200']);
    });
  });
});

describe('PgStore: catching up', () => {
  test('[STORE-21] loadLogSince answers the entries after a seq, the snapshot first when it covers some of them', async () => {
    await withTwo(async (one, two) => {
      for (let i = 1; i <= 5; i++) await one.commit(batch({ updates: [{ account: A, update: tagged(0, 0, i) }] }));
      const entry = (i: number) => hex(tagged(0, 0, i));
      assert.deepEqual(await two.loadLogSince(B, 0), { updates: [], lastSeq: 0 });
      const since2 = await two.loadLogSince(A, 2);
      assert.deepEqual([since2.updates.map(hex), since2.lastSeq], [[entry(3), entry(4), entry(5)], 5]);
      assert.deepEqual(await two.loadLogSince(A, 5), { updates: [], lastSeq: 5 });

      await two.compact(A, new Uint8Array([0xaa]), 3);
      const since1 = await one.loadLogSince(A, 1);
      assert.deepEqual([since1.updates.map(hex), since1.lastSeq], [['aa', entry(4), entry(5)], 5]);
      const since3 = await one.loadLogSince(A, 3);
      assert.deepEqual([since3.updates.map(hex), since3.lastSeq], [[entry(4), entry(5)], 5]);
      const since0 = await one.loadLogSince(A, 0);
      assert.deepEqual(since0.updates.map(hex), ['aa', entry(4), entry(5)], 'a replica with nothing gets the snapshot');
      await assert.rejects(one.loadLogSince(A, -1), RangeError);
    });
  });
});

describe('PgStore: claiming due pushes', () => {
  const tokens = Array.from({ length: 40 }, (_, i) => `${i.toString(16).padStart(2, '0')}`.repeat(32));

  test('[STORE-22] two nodes claiming at once never get the same entry; each gets due ones, oldest first', async () => {
    await withTwo(async (one, two) => {
      for (const [i, token] of tokens.entries()) await one.enqueuePush(outboxEntry(token, 100 + i));
      await one.enqueuePush(outboxEntry('ff'.repeat(32), 50, { parked: true }));
      await one.enqueuePush(outboxEntry('fe'.repeat(32), 5_000));
      const rounds = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          (i % 2 === 0 ? one : two).claimDuePushes(`node-${i % 2}`, 1_000, 7, 60_000),
        ),
      );
      const claimed = rounds.flat().map((e) => e.token);
      assert.equal(new Set(claimed).size, claimed.length, 'no entry claimed twice');
      assert.deepEqual([...claimed].sort(), [...tokens].sort(), 'every due entry, and no parked or later one');
      for (const round of rounds) {
        const due = round.map((e) => e.dueAt);
        assert.deepEqual(
          due,
          [...due].sort((x, y) => x - y),
          'oldest due first',
        );
      }
      assert.deepEqual(await two.claimDuePushes('node-1', 1_000, 10, 60_000), [], 'all claimed');
    });
  });

  test('[STORE-22] an expired claim can be claimed again; enqueue and remove clear a claim', async () => {
    await withTwo(async (one, two) => {
      const [t1, t2, t3] = tokens as [string, string, string];
      await one.enqueuePush(outboxEntry(t1, 100));
      await one.enqueuePush(outboxEntry(t2, 100));
      await one.enqueuePush(outboxEntry(t3, 100));
      const first = await one.claimDuePushes('node-a', 1_000, 10, 500);
      assert.deepEqual(
        first.map((e) => e.token),
        [t1, t2, t3],
      );
      assert.deepEqual(await two.claimDuePushes('node-b', 1_499, 10, 500), [], 'claimed until 1500');
      // A new value of t2, and t3 sent and re-queued: both are nobody's again.
      await one.enqueuePush(outboxEntry(t2, 200, { badge: 2 }));
      await one.removePush(t3, 1);
      await one.enqueuePush(outboxEntry(t3, 300));
      const second = await two.claimDuePushes('node-b', 1_499, 10, 500);
      assert.deepEqual(
        second.map((e) => [e.token, e.badge]),
        [
          [t2, 2],
          [t3, 1],
        ],
      );
      const third = await two.claimDuePushes('node-b', 1_500, 10, 500);
      assert.deepEqual(
        third.map((e) => e.token),
        [t1],
        'claimed until 1500: free at 1500',
      );
      assert.deepEqual(await two.claimDuePushes('node-b', 1_000, 0, 500), []);
      await assert.rejects(two.claimDuePushes('node-b', 1_000, 1, 0), RangeError);
    });
  });

  test("[STORE-34] a hand-over clears the node's claims and makes its own waiting entries due at once; others', parked ones, retries and other nodes' live claims keep theirs", async () => {
    await withTwo(async (one, two) => {
      const [held, mine, later, theirs, parked, heldByOther, retrying] = tokens as [
        string,
        string,
        string,
        string,
        string,
        string,
        string,
      ];
      await one.enqueuePush(outboxEntry(held, 100));
      await one.enqueuePush(outboxEntry(heldByOther, 100));
      assert.deepEqual(
        (await one.claimDuePushes('node-a', 1_000, 1, 60_000)).map((e) => e.token),
        [held],
      );
      assert.deepEqual(
        (await two.claimDuePushes('node-b', 1_000, 1, 60_000)).map((e) => e.token),
        [heldByOther],
      );
      await one.enqueuePush(outboxEntry(mine, 90_000));
      await one.enqueuePush(outboxEntry(later, 500));
      await one.enqueuePush(outboxEntry(theirs, 90_000));
      await one.enqueuePush(outboxEntry(parked, 90_000, { parked: true }));
      await one.enqueuePush(outboxEntry(retrying, 90_000, { attempts: 2 }));
      assert.deepEqual(await two.claimDuePushes('node-b', 400, 10, 60_000), [], 'held until 61,000 or not due yet');
      // node-a drains at 2,000: `later` was due at 500 already, so it keeps 500. It had queued
      // heldByOther too, which node-b is sending (a live claim), and retrying, in a backoff.
      assert.equal(await one.handOverPushes('node-a', [mine, later, parked, heldByOther, retrying], 2_000), 3);
      assert.equal((await one.getPush(mine))?.dueAt, 2_000, 'due at once');
      assert.equal((await one.getPush(later))?.dueAt, 500, 'never later than it was');
      assert.equal((await one.getPush(theirs))?.dueAt, 90_000, "another node's window is untouched");
      assert.equal((await one.getPush(parked))?.dueAt, 90_000, 'a parked entry stays parked');
      assert.equal(
        (await one.getPush(retrying))?.dueAt,
        90_000,
        "a retry's backoff is kept (a push service's Retry-After)",
      );
      const taken = await two.claimDuePushes('node-b', 2_000, 10, 60_000);
      assert.deepEqual(
        taken.map((e) => e.token),
        [held, later, mine],
        "node-b takes the drained node's entries at once, not node-b's own claim again",
      );
      assert.deepEqual(
        await one.claimDuePushes('node-c', 2_000, 10, 60_000),
        [],
        "node-b's send in flight keeps its claim: no third node sends it again",
      );
      await assert.rejects(one.handOverPushes('', [], 2_000), TypeError);
    });
  });

  test("[STORE-35] a peek answers each pending entry by when the node may claim it: a claim holds it until the claim ends, the node's own too", async () => {
    await withTwo(async (one, two) => {
      const [heldByB, heldByA, free, parked] = tokens as [string, string, string, string];
      await one.enqueuePush(outboxEntry(heldByB, 100));
      await one.enqueuePush(outboxEntry(heldByA, 200));
      assert.equal((await two.claimDuePushes('node-b', 1_000, 1, 60_000))[0]?.token, heldByB);
      assert.equal((await one.claimDuePushes('node-a', 1_000, 1, 60_000))[0]?.token, heldByA);
      await one.enqueuePush(outboxEntry(free, 5_000));
      await one.enqueuePush(outboxEntry(parked, 50, { parked: true }));
      const peek = await one.peekPushes('node-a', 1_000, 10);
      assert.deepEqual(
        peek.map((e) => [e.token, e.dueAt]),
        [
          [free, 5_000],
          [heldByB, 61_000],
          [heldByA, 61_000],
        ],
        'every claim at its end (node-a cannot re-take its own either), no parked entry',
      );
      assert.deepEqual(
        (await two.peekPushes('node-b', 1_000, 1)).map((e) => [e.token, e.dueAt]),
        [[free, 5_000]],
      );
      assert.equal((await one.getPush(heldByB))?.dueAt, 100, 'a peek changes nothing');
      assert.deepEqual(await one.peekPushes('node-a', 1_000, 0), []);
    });
  });

  test('[STORE-36] a node releases its own claims on the tokens named, at once; other claims stay', async () => {
    await withTwo(async (one, two) => {
      const [mine, alsoMine, theirs] = tokens as [string, string, string];
      for (const token of [mine, alsoMine, theirs]) await one.enqueuePush(outboxEntry(token, 100));
      assert.equal((await one.claimDuePushes('node-a', 1_000, 2, 60_000)).length, 2);
      assert.equal((await two.claimDuePushes('node-b', 1_000, 1, 60_000))[0]?.token, theirs);
      assert.equal(await one.releasePushes('node-a', [mine, theirs]), 1, 'only its own claim is released');
      assert.equal(await one.releasePushes('node-a', []), 0);
      assert.deepEqual(
        (await two.claimDuePushes('node-b', 2_000, 10, 60_000)).map((e) => e.token),
        [mine],
        'the released entry is claimable at once; node-a keeps the one it did not name',
      );
      await assert.rejects(one.releasePushes('', [mine]), TypeError);
    });
  });
});

describe('PgStore: call order', () => {
  test('[STORE-18] [STORE-23] a read called after commit() sees the batch before the commit resolved; one called before a write does not see it', async () => {
    await withTwo(async (one) => {
      await one.setMeta('m', 'old');
      const before = one.getMeta('m');
      const write = one.setMeta('m', 'new');
      const after = one.getMeta('m');
      assert.deepEqual(await Promise.all([before, write, after]), ['old', undefined, 'new']);

      let committed = false;
      // Held 300 ms before its transaction (the OPS-5 hook): the reads called after it wait.
      const commit = one.commit(batch({ updates: [{ account: A, update: tagged(9, 9, 9) }] }), 300).then(() => {
        committed = true;
      });
      const doc = await one.loadDoc(A);
      assert.equal(committed, true, 'the read answered after the commit');
      assert.deepEqual(doc.updates.map(hex), ['090909']);
      await commit;
    });
  });
});

describe('PgStore: connections', () => {
  /** Kills every connection the stores (application_name badgesync) hold to the test database. */
  async function killStoreConnections(admin: pg.Client): Promise<number> {
    const { rows } = await admin.query<{ killed: boolean }>(
      `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'badgesync'`,
      [fixture.db.name],
    );
    return rows.filter((row) => row.killed).length;
  }

  test('[STORE-24] a call whose connection is killed rejects; the pool reconnects and the next call works', async () => {
    const idleErrors: Error[] = [];
    const store = await PgStore.open({ url: fixture.db.url, onIdleError: (err) => idleErrors.push(err) });
    const locker = new pg.Client({ connectionString: fixture.db.url });
    await locker.connect();
    try {
      await store.commit(batch({ updates: [{ account: A, update: tagged(1, 1, 1) }] }));
      // The account's row lock held elsewhere: the next commit waits on it, mid-transaction.
      await locker.query('BEGIN');
      await locker.query('SELECT * FROM accounts WHERE account = $1 FOR UPDATE', [A]);
      const stuck = store.commit(batch({ updates: [{ account: A, update: tagged(2, 2, 2) }] }));
      const stuckRejected = assert.rejects(stuck);
      const waiting = async (): Promise<boolean> => {
        const { rows } = await locker.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = $1 AND application_name = 'badgesync' AND wait_event_type = 'Lock'`,
          [fixture.db.name],
        );
        return (rows[0]?.n ?? 0) > 0;
      };
      while (!(await waiting())) await new Promise((resolve) => setTimeout(resolve, 20));
      const admin = new pg.Client({ connectionString: fixture.db.url });
      await admin.connect();
      try {
        assert.ok((await killStoreConnections(admin)) >= 1);
      } finally {
        await admin.end();
      }
      await stuckRejected;
      await locker.query('ROLLBACK');

      const [next] = await store.commitWithSeqs(batch({ updates: [{ account: A, update: tagged(3, 3, 3) }] }));
      assert.deepEqual(next, { account: A, seq: 2 }, 'the killed commit wrote nothing');
      assert.deepEqual((await store.loadDoc(A)).updates.map(hex), ['010101', '030303']);
      assert.equal(await store.ping(), true);
    } finally {
      await locker.end();
      await store.close();
    }
  });

  test('[STORE-24] idle connections killed: reported, dropped, and the next calls open fresh ones', async () => {
    const idleErrors: Error[] = [];
    const store = await PgStore.open({ url: fixture.db.url, onIdleError: (err) => idleErrors.push(err) });
    try {
      // Several reads at once: several connections, idle in the pool afterwards.
      await Promise.all([store.getMeta('a'), store.getMeta('b'), store.getMeta('c')]);
      const admin = new pg.Client({ connectionString: fixture.db.url });
      await admin.connect();
      try {
        assert.ok((await killStoreConnections(admin)) >= 1);
      } finally {
        await admin.end();
      }
      while (idleErrors.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      await store.setMeta('a', 'after');
      assert.equal(await store.getMeta('a'), 'after');
      assert.equal(await store.ping(), true);
    } finally {
      await store.close();
    }
  });

  test('[STORE-24] ping answers false, never rejects, when the database cannot be reached or the store is closed', async () => {
    const store = await PgStore.open({ url: fixture.db.url });
    assert.equal(await store.ping(), true);
    await store.close();
    assert.equal(await store.ping(), false);
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    await assert.rejects(PgStore.open({ url: 'postgres://postgres@127.0.0.1:1/none' }));
  });

  test("[STORE-29] a store opened with a node ID names its connections badgesync:<node ID>, cut to PostgreSQL's 63 bytes", async () => {
    const long = `node-${'x'.repeat(120)}`;
    const stores = await Promise.all([
      PgStore.open({ url: fixture.db.url, nodeId: 'node-7' }),
      PgStore.open({ url: fixture.db.url, nodeId: long }),
    ]);
    const admin = new pg.Client({ connectionString: fixture.db.url });
    await admin.connect();
    try {
      // A read each: a connection each, idle in its pool afterwards.
      await Promise.all(stores.map((store) => store.getMeta('a')));
      const { rows } = await admin.query<{ name: string }>(
        `SELECT DISTINCT application_name AS name FROM pg_stat_activity
          WHERE datname = $1 AND application_name LIKE 'badgesync:%' ORDER BY 1`,
        [fixture.db.name],
      );
      assert.deepEqual(
        rows.map((row) => row.name),
        ['badgesync:node-7', `badgesync:${long}`.slice(0, 63)],
      );
    } finally {
      await admin.end();
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});

describe('PgStore: settings claimed by nodes starting together', () => {
  test('[STORE-30] four nodes claiming one key at once all get the first value stored; secrets and VAPID keys agree', async () => {
    const stores = await Promise.all([1, 2, 3, 4].map(() => PgStore.open({ url: fixture.db.url })));
    try {
      const claimed = await Promise.all(stores.map((store, i) => store.claimMeta('raced', `node-${i}`)));
      assert.equal(new Set(claimed).size, 1, `one value for all: ${claimed.join(', ')}`);
      assert.equal(await stores[0]?.getMeta('raced'), claimed[0]);
      const secrets = await Promise.all(stores.map((store) => resolveSecrets(store, null, null)));
      assert.equal(new Set(secrets.map((s) => s.deviceSecret)).size, 1, 'one device secret');
      assert.equal(new Set(secrets.map((s) => s.apiKey)).size, 1, 'one API key');
      assert.equal(secrets.filter((s) => s.generated).length >= 1, true, 'someone generated them');
      const vapid = await Promise.all(stores.map((store) => resolveVapidKeys(store, NO_VAPID)));
      assert.equal(new Set(vapid.map((k) => `${k.publicKey}.${k.privateKey}`)).size, 1, 'one VAPID pair');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });
});
