/**
 * Schema migrations of the PostgreSQL store (SPEC STORE-12, STORE-25): each on a database of its
 * own, created fresh and dropped after.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'vitest';
import {
  type Migration,
  migratePg,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  PgStore,
  SchemaTooNewError,
} from '../src/store/index.js';
import { openPool } from '../src/store/pg/pg-pool.js';
import { createTestDatabase, onDatabase, type TestDatabase } from './pg-database.js';

const databases: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(databases.splice(0).map((db) => db.drop()));
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

async function versions(url: string): Promise<number[]> {
  const rows = await onDatabase<{ version: number }>(url, 'SELECT version FROM badgesync_schema ORDER BY version');
  return rows.map((row) => row.version);
}

async function tables(url: string): Promise<string[]> {
  const rows = await onDatabase<{ tablename: string }>(
    url,
    'SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename',
  );
  return rows.map((row) => row.tablename);
}

describe('PgStore migrations', () => {
  test('[STORE-25] four stores opening one fresh database at once migrate it exactly once', async () => {
    const db = await freshDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => PgStore.open({ url: db.url, max: 2 })));
    try {
      assert.deepEqual(
        await versions(db.url),
        PG_MIGRATIONS.map((step) => step.version),
      );
      for (const store of stores) assert.equal(await store.ping(), true);
      await stores[0]?.setMeta('k', 'v');
      assert.equal(await stores[3]?.getMeta('k'), 'v');
    } finally {
      await Promise.all(stores.map((store) => store.close()));
    }
  });

  test('[STORE-25] each step runs once under the lock, whatever the number of nodes migrating', async () => {
    const db = await freshDatabase();
    // Step 2 counts its runs: a step applied twice would leave two rows (or fail on the table).
    const steps: Migration[] = [
      { version: 1, name: 'runs', sql: 'CREATE TABLE runs (n INTEGER NOT NULL)' },
      { version: 2, name: 'count', sql: 'INSERT INTO runs (n) VALUES (1)' },
      { version: 3, name: 'more', sql: 'CREATE TABLE more (x INTEGER)' },
    ];
    const pools = Array.from({ length: 4 }, () => openPool({ url: db.url, max: 1 }));
    try {
      assert.deepEqual(await Promise.all(pools.map((pool) => migratePg(pool, steps))), [3, 3, 3, 3]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    assert.deepEqual(await onDatabase(db.url, 'SELECT n FROM runs'), [{ n: 1 }]);
    assert.deepEqual(await versions(db.url), [1, 2, 3]);
  });

  test('[STORE-12] a step that fails is applied not at all: the schema stays at the step before', async () => {
    const db = await freshDatabase();
    const steps: Migration[] = [
      { version: 1, name: 'one', sql: 'CREATE TABLE one (x INTEGER)' },
      { version: 2, name: 'broken', sql: 'CREATE TABLE two (x INTEGER); SELECT no_such_function()' },
    ];
    const pool = openPool({ url: db.url });
    try {
      await assert.rejects(migratePg(pool, steps), /no_such_function/);
    } finally {
      await pool.end();
    }
    assert.deepEqual(await versions(db.url), [1]);
    assert.deepEqual(await tables(db.url), ['badgesync_schema', 'one']);
  });

  test('[STORE-12] a database of a newer schema is refused untouched', async () => {
    const db = await freshDatabase();
    const store = await PgStore.open({ url: db.url });
    await store.setMeta('k', 'kept');
    await store.close();
    const newer = PG_SCHEMA_VERSION + 1;
    await onDatabase(db.url, "INSERT INTO badgesync_schema (version, name, applied_at) VALUES ($1, 'future', 0)", [
      newer,
    ]);
    const before = { versions: await versions(db.url), tables: await tables(db.url) };

    await assert.rejects(PgStore.open({ url: db.url }), (err: unknown) => {
      assert.ok(err instanceof SchemaTooNewError);
      assert.deepEqual([err.found, err.supported], [newer, PG_SCHEMA_VERSION]);
      return true;
    });
    assert.deepEqual({ versions: await versions(db.url), tables: await tables(db.url) }, before);
    assert.deepEqual(await onDatabase(db.url, 'SELECT value FROM meta'), [{ value: 'kept' }]);
  });
});
