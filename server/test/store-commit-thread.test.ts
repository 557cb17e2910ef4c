/**
 * [STORE-17] The group commit's batches written on the commit thread: durable when
 * commitAsync resolves, seen by every read while in flight, refused or failed whole. Real
 * SQLite files, a real worker thread; a second connection of the test's own shows what is
 * on disk, so the in-flight reads are proved to come from the overlay, not the file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_DEVICE, type ThreadId } from '@badgesync/shared';
import Database from 'better-sqlite3';
import pino from 'pino';
import { afterAll, afterEach, describe, test } from 'vitest';
import { Metrics } from '../src/metrics.js';
import { AccountRoom } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore, SqliteStore, type SyncStore, type WriteBatch } from '../src/store/index.js';
import { A, B, batch, D1, D2, hex } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-commit-thread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 }));
let files = 0;
const open: SyncStore[] = [];
afterEach(() => {
  for (const store of open.splice(0)) store.close();
});

function sqlite(): SqliteStore {
  const store = new SqliteStore(join(dir, `thread-${++files}.db`));
  open.push(store);
  return store;
}

/** The promise of a batch sent to the commit thread (never null there). */
function onThread(written: Promise<void> | null): Promise<void> {
  assert.ok(written !== null, 'the batch went to the commit thread');
  return written;
}

/** A second connection that never uses the commit thread: what the file holds now. */
function onDisk(path: string): SqliteStore {
  const store = new SqliteStore(path, { commitThread: false });
  open.push(store);
  return store;
}

/**
 * Long enough that the reads below, a few milliseconds of synchronous work, all run while
 * the batch is held on the commit thread, even on a loaded machine; short enough to keep the
 * file quick.
 */
const HOLD_MS = 400;

const TOKEN = 'c3'.repeat(32);
const OTHER = 'd4'.repeat(32);

function fullBatch(): WriteBatch {
  return {
    updates: [{ account: A, update: new Uint8Array([1, 2, 3]) }],
    counts: [{ account: A, counts: { badge: 5, threads: { t: 5 }, muted: [] }, changed: ['t'] }],
    bindings: [{ account: A, clientId: 9, device: D2 }],
    idempotency: [{ account: A, key: 'k', response: '{"head":5}', at: 1_000 }],
    push: [
      { kind: 'enqueuePush', entry: { token: TOKEN, badge: 5, changedAt: 1, dueAt: 2, attempts: 0, parked: false } },
      { kind: 'setDelivered', token: OTHER, badge: 4, at: 3 },
      {
        kind: 'invalidateToken',
        token: TOKEN,
        refusal: { reason: 'Unregistered', registeredAtOrBefore: 10_000, environment: 'production', topic: null },
      },
    ],
  };
}

/** What `store` reads of everything fullBatch() writes. */
function readAll(store: SyncStore) {
  return {
    updates: store.loadDoc(A).updates.map(hex),
    logCount: store.loadDoc(A).logCount,
    bindings: [...store.loadBindings(A)].sort(([x], [y]) => x - y),
    counts: store.getCounts(A),
    badges: [...store.getBadges([A, B])],
    answer: store.getIdempotent(A, 'k', 0),
    push: store.getPush(TOKEN),
    delivered: store.getDelivered(OTHER),
    invalid: store.registrationsOfToken(TOKEN).map((r) => r.tokenInvalidReason),
    registration: store.getRegistration(A, D1)?.tokenInvalidReason,
  };
}

/** The state before fullBatch(): one update, a binding, counts of another thread, a registration. */
function seed(store: SyncStore): void {
  store.commit(
    batch({
      updates: [{ account: A, update: new Uint8Array([7]) }],
      counts: [{ account: A, counts: { badge: 2, threads: { u: 2 }, muted: ['u'] } }],
      bindings: [{ account: A, clientId: 1, device: D1 }],
    }),
  );
  store.putDevice(A, D1, { apnsToken: TOKEN }, 5_000);
}

describe('commit thread', () => {
  test('[STORE-17] startCommitThread resolves once the thread answers; without a thread, at once', async () => {
    const store = sqlite();
    await store.startCommitThread();
    await onThread(store.commitAsync(batch({ updates: [{ account: A, update: new Uint8Array([1]) }] })));
    assert.equal(onDisk(store.path).loadDoc(A).updates.length, 1);
    await sqlite().startCommitThread();
    const plain = new SqliteStore(join(dir, `thread-${++files}.db`), { commitThread: false });
    open.push(plain);
    await plain.startCommitThread();
  });

  test('[STORE-17] commitAsync resolves once the batch is on disk: another connection reads it whole', async () => {
    const store = sqlite();
    seed(store);
    await store.commitAsync(fullBatch());
    const disk = onDisk(store.path);
    assert.deepEqual(readAll(disk), readAll(store));
    const read = readAll(disk);
    assert.deepEqual(read.updates, ['07', '010203']);
    assert.deepEqual(read.counts, { badge: 5, threads: { t: 5, u: 2 }, muted: ['u'] });
    assert.equal(read.answer, '{"head":5}');
    assert.equal(read.push?.badge, 5);
    assert.equal(read.delivered, 4);
    assert.deepEqual(read.invalid, ['Unregistered']);
  });

  test('[STORE-31] updates that are views into shared buffers reach the file byte for byte, in order, per account; the caller keeps its bytes', async () => {
    const store = sqlite();
    // As a socket's frames are: views into one buffer, and Node's pool, at offsets.
    const frame = Buffer.from('aa0102bb030405cc06dd', 'hex');
    const pooled = Buffer.from([0x09, 0x08]);
    const updates = [
      { account: A, update: frame.subarray(1, 3) },
      { account: B, update: frame.subarray(4, 7) },
      { account: A, update: pooled },
      { account: A, update: frame.subarray(8, 9) },
      { account: B, update: frame.subarray(9) },
    ];
    const written = onThread(store.commitAsync(batch({ updates })));
    assert.deepEqual(
      updates.map(({ update }) => hex(update)),
      ['0102', '030405', '0908', '06', 'dd'],
      'nothing of the caller was handed over (detached) or changed',
    );
    await written;
    const disk = onDisk(store.path);
    assert.deepEqual(disk.loadDoc(A).updates.map(hex), ['0102', '0908', '06']);
    assert.deepEqual(disk.loadDoc(B).updates.map(hex), ['030405', 'dd']);
    assert.equal(hex(frame), 'aa0102bb030405cc06dd');
  });

  test('[STORE-18] every read sees a batch in flight, once; the file does not hold it yet', async () => {
    const store = sqlite();
    seed(store);
    const disk = onDisk(store.path);
    const before = readAll(disk);
    const written = onThread(store.commitAsync(fullBatch(), HOLD_MS));
    const during = readAll(store);
    assert.deepEqual(readAll(disk), before, 'held: the file does not have the batch yet');
    assert.deepEqual(during.updates, ['07', '010203']);
    assert.equal(during.logCount, 2);
    assert.deepEqual(during.bindings, [
      [1, D1],
      [9, D2],
    ]);
    assert.deepEqual(during.counts, { badge: 5, threads: { t: 5, u: 2 }, muted: ['u'] });
    assert.deepEqual(during.badges, [
      [A, 5],
      [B, 0],
    ]);
    assert.equal(during.answer, '{"head":5}');
    assert.equal(during.push?.badge, 5);
    assert.equal(during.delivered, 4);
    assert.deepEqual(during.invalid, ['Unregistered']);
    assert.equal(during.registration, 'Unregistered');
    await written;
    assert.deepEqual(readAll(store), during, 'after: the same, from the file');
    assert.deepEqual(readAll(disk), during);
  });

  test('[STORE-17] a refused batch throws at once, writes nothing and leaves nothing for reads', async () => {
    const store = sqlite();
    seed(store);
    const bad: WriteBatch = { ...fullBatch(), bindings: [{ account: A, clientId: -1, device: D2 }] };
    assert.throws(() => store.commitAsync(bad), TypeError);
    const disk = onDisk(store.path);
    assert.deepEqual(readAll(store), readAll(disk));
    assert.deepEqual(readAll(store).updates, ['07']);
  });

  test('[STORE-19] push writes of FCM and Web Push addresses cross to the commit thread as data, in flight and on disk alike', async () => {
    const store = sqlite();
    const fcm = 'fcm:fcm-Token:1';
    const endpoint = 'https://push.example.net/send/abc';
    const web = `webpush:${endpoint}`;
    const keys = { p256dh: 'BPk', auth: 'c2VjcmV0' };
    store.putDevice(A, D1, { fcmToken: 'fcm-Token:1' }, 5_000);
    store.putDevice(A, D2, { webpush: { endpoint, keys } }, 5_000);
    const disk = onDisk(store.path);
    const refusal = { reason: 'Gone', registeredAtOrBefore: 10_000, environment: 'production', topic: null } as const;
    const platforms: WriteBatch = batch({
      push: [
        { kind: 'enqueuePush', entry: { token: fcm, badge: 3, changedAt: 1, dueAt: 2, attempts: 0, parked: false } },
        { kind: 'setDelivered', token: web, badge: 2, at: 3 },
        { kind: 'invalidateToken', token: web, refusal },
      ],
    });
    const read = (s: SyncStore) => ({
      push: s.getPush(fcm)?.badge ?? null,
      delivered: s.getDelivered(web),
      invalid: s.getRegistration(A, D2)?.tokenInvalidReason ?? null,
      fcmValid: s.getRegistration(A, D1)?.tokenInvalidReason ?? null,
      keys: s.registrationsOfToken(web).map((r) => r.webpushKeys),
    });
    const written = onThread(store.commitAsync(platforms, HOLD_MS));
    const during = read(store);
    assert.deepEqual(read(disk), { push: null, delivered: null, invalid: null, fcmValid: null, keys: [keys] });
    assert.deepEqual(during, { push: 3, delivered: 2, invalid: 'Gone', fcmValid: null, keys: [keys] });
    await written;
    assert.deepEqual(read(disk), during, 'the thread wrote what the loop read in flight');
    assert.deepEqual(read(store), during);
    // A push write naming no valid address is refused on the loop, before it reaches the thread.
    const bad = batch({
      push: [{ kind: 'setDelivered', token: 'webpush:http://push.example.net/x', badge: 1, at: 4 }],
    });
    assert.throws(() => store.commitAsync(bad), TypeError);
    assert.equal(store.getDelivered('webpush:http://push.example.net/x'), null);
  });

  test('[STORE-17] an error on the commit thread rejects the batch, which it rolled back', async () => {
    const store = sqlite();
    seed(store);
    await store.commitAsync(batch({ updates: [{ account: B, update: new Uint8Array([1]) }] }));
    // The thread's connection is open; the table its batch needs goes away under it.
    const side = new Database(store.path);
    side.exec('DROP TABLE idempotency');
    side.close();
    await assert.rejects(onThread(store.commitAsync(fullBatch())), /no such table: idempotency/);
    const disk = new Database(store.path, { readonly: true });
    const rows = disk.prepare('SELECT hex(data) AS h FROM updates WHERE account = ?').all(A) as { h: string }[];
    disk.close();
    assert.deepEqual(
      rows.map((r) => r.h),
      ['07'],
      'the updates before it rolled back',
    );
    assert.deepEqual(store.loadDoc(A).updates.map(hex), ['07'], 'and no read sees them');
  });

  test('[STORE-17] MemoryStore and a store without a thread: commitAsync writes at once and answers null', () => {
    for (const store of [new MemoryStore(), onDisk(join(dir, `no-thread-${++files}.db`))]) {
      seed(store);
      assert.equal(store.commitAsync(fullBatch()), null);
      assert.deepEqual(readAll(store).updates, ['07', '010203']);
      assert.throws(
        () => store.commitAsync({ ...fullBatch(), bindings: [{ account: A, clientId: -1, device: D2 }] }),
        TypeError,
      );
      assert.deepEqual(readAll(store).updates, ['07', '010203']);
    }
  });
});

/** A SqliteStore that records the size of each batch it is handed. */
class CountingStore extends SqliteStore {
  readonly sizes: number[] = [];
  override commitAsync(b: WriteBatch, holdMs?: number): Promise<void> | null {
    this.sizes.push(b.updates.length);
    return super.commitAsync(b, holdMs);
  }
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('group commit on the commit thread', () => {
  test('[STORE-17] one batch in flight; what arrives meanwhile is the next batch, and its callbacks wait for it', async () => {
    const store = new CountingStore(join(dir, `group-${++files}.db`));
    open.push(store);
    const disk = onDisk(store.path);
    const commit = new GroupCommit(
      asyncStore(store),
      new Metrics(),
      (err) => assert.fail(String(err)),
      undefined,
      HOLD_MS,
    );
    const seen: string[] = [];
    commit.addUpdate(A, new Uint8Array([1]));
    commit.afterCommit(() => seen.push(`first: ${disk.loadDoc(A).logCount} on disk`));
    await turn();
    assert.deepEqual(store.sizes, [1], 'the first batch is in flight');
    for (const byte of [2, 3, 4]) {
      commit.addUpdate(A, new Uint8Array([byte]));
      await turn();
    }
    commit.afterCommit(() => seen.push(`second: ${disk.loadDoc(A).logCount} on disk`));
    assert.deepEqual(store.sizes, [1], 'nothing else is handed over while one batch is in flight');
    assert.deepEqual(seen, []);
    assert.equal(store.loadDoc(A).logCount, 1, 'reads see the batch in flight, not the one gathering');
    await commit.flushed();
    assert.deepEqual(store.sizes, [1, 3], 'the three updates that arrived meanwhile went as one batch');
    assert.deepEqual(seen, ['first: 1 on disk', 'second: 4 on disk']);
    await commit.close();
  });

  test('[STORE-11] a batch the commit thread fails is fatal, and no callback runs', async () => {
    const store = sqlite();
    await store.commitAsync(batch({ updates: [{ account: B, update: new Uint8Array([1]) }] }));
    const side = new Database(store.path);
    side.exec('DROP TABLE updates');
    side.close();
    const fatal: unknown[] = [];
    const commit = new GroupCommit(asyncStore(store), new Metrics(), (err) => fatal.push(err));
    let relayed = false;
    commit.addUpdate(A, new Uint8Array([1]));
    commit.afterCommit(() => {
      relayed = true;
    });
    await commit.close();
    assert.equal(fatal.length, 1);
    assert.match((fatal[0] as Error).message, /no such table: updates/);
    assert.equal(relayed, false);
  });
});

describe('an account loaded while its writes are in flight', () => {
  test('[STORE-18] a room loaded while a batch with its updates is on the commit thread has them, and the counts', async () => {
    const store = new SqliteStore(join(dir, `room-${++files}.db`));
    open.push(store);
    const metrics = new Metrics();
    const commit = new GroupCommit(asyncStore(store), metrics, (err) => assert.fail(String(err)), undefined, HOLD_MS);
    const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
    const deps = { store: asyncStore(store), commit, metrics, log: pino({ level: 'silent' }), events };
    const first = await AccountRoom.load(A, deps);
    first.serverWrite(({ heads }) => heads.set('inbox' as ThreadId, 3));
    await turn();
    assert.equal(first.settled, false, 'the write is in flight, held on the commit thread');
    assert.equal(onDisk(store.path).loadDoc(A).updates.length, 0, 'and not in the file yet');
    // As a reload after a poisoned room would: the same account, loaded again, now.
    const second = await AccountRoom.load(A, deps, { reuseServerClient: false });
    assert.equal(second.tracker.head('inbox' as ThreadId), 3);
    assert.equal(second.tracker.badge, 3);
    assert.equal(store.getCounts(A)?.badge, 3);
    assert.ok([...store.loadBindings(A).values()].includes(SERVER_DEVICE), 'the server binding in flight too');
    await commit.flushed();
    assert.equal(first.settled, true);
    assert.equal(onDisk(store.path).getCounts(A)?.badge, 3);
    first.destroy();
    second.destroy();
    await commit.close();
  });
});
