/** What only the SQLite store has: a file that outlives the process, settings, migrations. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, test } from 'vitest';
import { COMMITTED_MARK_KEY } from '../src/store/commit-messages.js';
import {
  BUSY_TIMEOUT_MS,
  MIGRATIONS,
  type Migration,
  migrate,
  SCHEMA_VERSION,
  SchemaTooNewError,
  SqliteStore,
  type SyncStore,
  schemaVersion,
} from '../src/store/index.js';
import { A, B, batch, C, D1, D2, hex, nextDueAt, refusal, withDocuments } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `db-${++files}.db`);

/** Everything a store holds, as far as the Store interface can see it. */
function dump(store: SyncStore) {
  const accounts = [A, B, C];
  const devices = [D1, D2];
  return {
    docs: accounts.map((a) => {
      const doc = store.loadDoc(a);
      return { ...doc, updates: doc.updates.map(hex) };
    }),
    bindings: accounts.map((a) => [...store.loadBindings(a)]),
    counts: accounts.map((a) => store.getCounts(a)),
    idempotency: accounts.map((a) => store.getIdempotent(a, 'k', 0)),
    registrations: accounts.flatMap((a) => devices.map((d) => store.getRegistration(a, d))),
    tokens: ['abcd', 'ee'].map((t) => [store.registrationsOfToken(t), store.getDelivered(t), store.getPush(t)]),
    pushable: store.pushableTokens(),
    members: accounts.map((a) => store.devicesOf(a)),
    due: store.duePushes(Number.MAX_SAFE_INTEGER, 100),
    nextDueAt: nextDueAt(store),
    pushes: store.countPushes(),
    meta: store.getMeta('device_secret'),
    accounts: withDocuments(store, accounts),
  };
}

function fill(store: SyncStore): void {
  store.commit({
    updates: [A, B, A, A].map((account, i) => ({ account, update: new Uint8Array([i + 1, 0xff]) })),
    counts: [{ account: A, counts: { badge: 3, threads: { t: 3, m: 1 }, muted: ['m'] } }],
    bindings: [{ account: A, clientId: 42, device: D1 }],
    idempotency: [{ account: B, key: 'k', response: '{"head":1}', at: 1_000 }],
  });
  // Compact A's log to its middle: a snapshot and a tail survive together.
  const second = store.loadDoc(A).lastLogId - 1;
  store.compact(A, new Uint8Array([0xaa]), second);
  store.putDevice(A, D1, { apnsToken: 'ABCD', environment: 'sandbox', topic: 'com.example', badges: false }, 500);
  store.putDevice(B, D1, {}, 600);
  store.putDevice(B, D2, { apnsToken: 'ee' }, 700);
  store.invalidateToken('ee', refusal('Unregistered', 700));
  store.setDelivered('abcd', 2, 800);
  store.enqueuePush({ token: 'abcd', badge: 3, changedAt: 900, dueAt: 950, attempts: 1, parked: false });
  store.enqueuePush({ token: 'ee', badge: 1, changedAt: 900, dueAt: 910, attempts: 9, parked: true });
  store.setMeta('device_secret', 's3cret');
}

describe('SqliteStore on disk', () => {
  test('[STORE-1] closing and reopening the file keeps everything', () => {
    const path = freshPath();
    const first = new SqliteStore(path);
    fill(first);
    const before = dump(first);
    first.close();

    const second = new SqliteStore(path);
    assert.deepEqual(dump(second), before);
    second.close();
  });

  test('[STORE-3] after a reopen, log IDs still continue past the highest ever issued', () => {
    const path = freshPath();
    const first = new SqliteStore(path);
    first.commit(batch({ updates: [B, A, A].map((account) => ({ account, update: new Uint8Array([1]) })) }));
    // Deletes the newest row of the table: a plain rowid would hand its ID out again.
    const last = first.loadDoc(A).lastLogId;
    first.compact(A, new Uint8Array([0xaa]), last);
    first.close();

    const second = new SqliteStore(path);
    try {
      second.commit(batch({ updates: [{ account: A, update: new Uint8Array([2]) }] }));
      const doc = second.loadDoc(A);
      assert.deepEqual(doc.updates.map(hex), ['aa', '02']);
      assert.equal(doc.lastLogId, last + 1);
    } finally {
      second.close();
    }
  });

  test('[STORE-1] the connection runs WAL, synchronous=FULL, foreign keys and a busy timeout', () => {
    const store = new SqliteStore(freshPath());
    try {
      assert.deepEqual(store.settings(), {
        journalMode: 'wal',
        synchronous: 2,
        foreignKeys: true,
        busyTimeoutMs: BUSY_TIMEOUT_MS,
      });
    } finally {
      store.close();
    }
  });

  test("[STORE-48] the commit thread's write: a batch and its mark in one transaction, a refused one writes neither", () => {
    const path = freshPath();
    const store = new SqliteStore(path, { commitThread: false });
    try {
      store.commitMarked(batch({ updates: [{ account: A, update: new Uint8Array([0, 0]) }] }), 'epoch:1');
      assert.equal(store.getMeta(COMMITTED_MARK_KEY), 'epoch:1');
      assert.equal(store.loadDoc(A).logCount, 1);
      const refused = batch({
        updates: [{ account: A, update: new Uint8Array([0, 0]) }],
        bindings: [{ account: A, clientId: -1, device: D1 }],
      });
      assert.throws(() => store.commitMarked(refused, 'epoch:2'));
      assert.equal(store.getMeta(COMMITTED_MARK_KEY), 'epoch:1', 'the mark of a refused batch is not written');
      assert.equal(store.loadDoc(A).logCount, 1, 'nor are its rows');
      store.commitMarked(batch({ updates: [{ account: B, update: new Uint8Array([0, 0]) }] }), 'epoch:3');
      assert.equal(store.getMeta(COMMITTED_MARK_KEY), 'epoch:3', 'a refusal leaves no transaction open');
    } finally {
      store.close();
    }
  });

  test('[STORE-1] the parent directories of the file are created', () => {
    const path = join(dir, 'nested', 'deeper', 'badgesync.db');
    new SqliteStore(path).close();
    assert.ok(existsSync(path));
  });
});

describe('SqliteStore migrations', () => {
  test('[STORE-12] migrations are numbered 1, 2, 3, … without gaps', () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
    const db = new Database(':memory:');
    try {
      const gap: Migration[] = [{ version: 2, name: 'gap', sql: 'SELECT 1' }];
      assert.throws(() => migrate(db, gap), /expected 1/);
    } finally {
      db.close();
    }
  });

  test('[STORE-12] a fresh database is at the current version, with every table', () => {
    const path = freshPath();
    new SqliteStore(path).close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(schemaVersion(db), SCHEMA_VERSION);
      const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all();
      assert.deepEqual(
        versions,
        MIGRATIONS.map((m) => m.version),
      );
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      for (const table of [
        'client_bindings',
        'counts',
        'delivered',
        'idempotency',
        'meta',
        'outbox',
        'registrations',
        'revocations',
        'schema_version',
        'snapshots',
        'updates',
      ]) {
        assert.ok(tables.includes(table), `table ${table}`);
      }
    } finally {
      db.close();
    }
  });

  test('[STORE-12] reopening an up-to-date database applies nothing', () => {
    const path = freshPath();
    new SqliteStore(path).close();
    const applied = () => {
      const db = new Database(path, { readonly: true });
      try {
        return db.prepare('SELECT * FROM schema_version ORDER BY version').all();
      } finally {
        db.close();
      }
    };
    const before = applied();
    new SqliteStore(path).close();
    assert.deepEqual(applied(), before);
  });

  test('[STORE-12] a new step upgrades an existing database and keeps its data', () => {
    const path = freshPath();
    const store = new SqliteStore(path);
    store.setMeta('device_secret', 'kept');
    store.close();
    const db = new Database(path);
    try {
      const next: Migration = {
        version: SCHEMA_VERSION + 1,
        name: 'meta notes',
        sql: 'ALTER TABLE meta ADD note TEXT',
      };
      assert.equal(migrate(db, [...MIGRATIONS, next]), SCHEMA_VERSION + 1);
      assert.equal(schemaVersion(db), SCHEMA_VERSION + 1);
      assert.deepEqual(db.prepare('SELECT key, value, note FROM meta').all(), [
        { key: 'device_secret', value: 'kept', note: null },
      ]);
    } finally {
      db.close();
    }
  });

  test('[STORE-12] a failing step rolls back whole and leaves the previous version', () => {
    const db = new Database(join(dir, `db-${++files}.db`));
    try {
      migrate(db);
      const broken: Migration = {
        version: SCHEMA_VERSION + 1,
        name: 'broken',
        sql: 'CREATE TABLE half_done (a); INSERT INTO no_such_table VALUES (1);',
      };
      assert.throws(() => migrate(db, [...MIGRATIONS, broken]), /no_such_table/);
      assert.equal(schemaVersion(db), SCHEMA_VERSION);
      assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").get(), undefined);
    } finally {
      db.close();
    }
  });

  test('[STORE-12] a database at a newer version is refused, untouched', () => {
    const path = freshPath();
    const store = new SqliteStore(path);
    store.setMeta('device_secret', 'kept');
    store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
      SCHEMA_VERSION + 1,
      'from a newer build',
      Date.now(),
    );
    db.close();

    assert.throws(
      () => new SqliteStore(path),
      (err: unknown) =>
        err instanceof SchemaTooNewError &&
        err.code === 'schema_too_new' &&
        err.found === SCHEMA_VERSION + 1 &&
        err.supported === SCHEMA_VERSION &&
        /newer than this build supports/.test(err.message),
    );
    const check = new Database(path, { readonly: true });
    try {
      assert.equal(schemaVersion(check), SCHEMA_VERSION + 1);
      assert.equal(check.prepare("SELECT value FROM meta WHERE key = 'device_secret'").pluck().get(), 'kept');
    } finally {
      check.close();
    }
  });
});
