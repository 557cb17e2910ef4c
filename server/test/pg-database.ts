/**
 * Throwaway PostgreSQL databases for tests: the server at 127.0.0.1:5432 (user postgres, trust;
 * scripts/setup.sh starts one when missing), a fresh database per test file run, dropped after.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { PgStore } from '../src/store/index.js';

/** The server the tests use; BADGESYNC_TEST_PG_URL names another (its `postgres` database). */
const ADMIN_URL = process.env.BADGESYNC_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A database URL on the same server as ADMIN_URL. */
export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Drops it (closing whatever connections are left to it). */
  drop(): Promise<void>;
}

/** Creates an empty database `badgesync_test_<pid>_<random>`. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `badgesync_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: databaseUrl(name),
    drop: () =>
      admin(async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** Runs one statement on the database with a connection of its own. */
export async function onDatabase<R extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Empties every table of the store's schema (keeps the schema and its version), on `client`
 * (connected to the database). DELETE, not TRUNCATE: on tables this small it costs far less
 * than TRUNCATE's new files and their fsyncs.
 */
export async function emptyTables(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ tablename: string }>(
    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'badgesync_schema'",
  );
  // One multi-statement query: one transaction, one round trip.
  if (rows.length > 0) await client.query(rows.map((t) => `DELETE FROM "${t.tablename}";`).join(' '));
}

/** A connection of its own to `url`, for a test's own statements; end() it after. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/**
 * A fresh database for this test file, migrated once (PgStore.open) before its tests and
 * dropped after them; the getter answers it inside tests and hooks.
 */
export function useMigratedDatabase(): () => TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    await (await PgStore.open({ url: db.url })).close();
  });
  afterAll(async () => {
    await db?.drop();
  });
  return () => {
    if (db === undefined) throw new Error('the test database is made in beforeAll');
    return db;
  };
}

/** A migrated database of the test file's own and a connection to it, emptied before each test. */
export interface EmptiedDatabase {
  readonly db: TestDatabase;
  /** The file's own connection, for its statements on the tables. */
  readonly own: pg.Client;
}

/**
 * useMigratedDatabase plus the file's own connection, and every table emptied before each
 * test (registered first, so a file's own beforeEach runs on empty tables). Read its fields
 * inside tests and hooks.
 */
export function useEmptiedDatabase(): EmptiedDatabase {
  const database = useMigratedDatabase();
  let own: pg.Client | undefined;
  beforeAll(async () => {
    own = await connect(database().url);
  });
  afterAll(async () => {
    await own?.end();
  });
  beforeEach(async () => {
    if (own !== undefined) await emptyTables(own);
  });
  return {
    get db() {
      return database();
    },
    get own() {
      if (own === undefined) throw new Error('the connection is made in beforeAll');
      return own;
    },
  };
}
