/**
 * Schema migrations of the PostgreSQL store (SPEC STORE-12, STORE-25), numbered like the
 * SQLite store's (../migrations.ts) but a schema of their own: the PostgreSQL store starts
 * at its version 1 with everything the SQLite schema reached at its version 5, and numbers
 * the account's log by a per-account sequence (STORE-20).
 *
 * The version lives in `badgesync_schema`, one row per applied step. Several nodes may start at
 * once on one database: every step runs in its own transaction holding a transaction-level
 * advisory lock (MIGRATION_LOCK_KEY), and re-reads the version under it, so each step is applied
 * exactly once, whole or not at all. A database at a newer version than this build knows is
 * refused (SchemaTooNewError) before anything is written.
 *
 * Rules for new steps: append, never edit a released step; number them 1, 2, 3, … without gaps.
 */
import type pg from 'pg';
import { type Migration, SchemaTooNewError } from '../migrations.js';
import { inTransaction, type Queryable } from './pg-pool.js';

/**
 * The advisory lock every migration step holds: a fixed 64-bit key ("badgesyn" in ASCII), so
 * that every badgesync build, whatever its version, takes the same one.
 */
export const MIGRATION_LOCK_KEY = 0x6261_6467_6573_796en;

/**
 * Text keys (accounts, devices, threads, push addresses) sort by their bytes (COLLATE "C"),
 * as SQLite and JavaScript sort them, whatever the database's locale.
 */
export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      -- The newest seq given in each account's log (STORE-20); its row lock orders commits.
      CREATE TABLE accounts (
        account TEXT COLLATE "C" PRIMARY KEY,
        log_seq BIGINT NOT NULL CHECK (log_seq >= 0)
      );
      CREATE TABLE updates (
        account TEXT COLLATE "C" NOT NULL,
        seq     BIGINT NOT NULL CHECK (seq > 0),
        data    BYTEA NOT NULL CHECK (length(data) > 0),
        PRIMARY KEY (account, seq)
      );
      CREATE TABLE snapshots (
        account     TEXT COLLATE "C" PRIMARY KEY,
        data        BYTEA NOT NULL,
        through_seq BIGINT NOT NULL CHECK (through_seq >= 0)
      );
      CREATE TABLE client_bindings (
        account   TEXT COLLATE "C" NOT NULL,
        client_id BIGINT NOT NULL CHECK (client_id >= 0),
        device    TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (account, client_id)
      );
      -- STORE-15: the badge per account, unread per thread, one row per muted thread.
      CREATE TABLE counts (
        account    TEXT COLLATE "C" PRIMARY KEY,
        badge      BIGINT NOT NULL CHECK (badge >= 0),
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE count_threads (
        account TEXT COLLATE "C" NOT NULL,
        thread  TEXT COLLATE "C" NOT NULL,
        unread  BIGINT NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (account, thread)
      );
      CREATE TABLE count_mutes (
        account TEXT COLLATE "C" NOT NULL,
        thread  TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (account, thread)
      );
      CREATE TABLE idempotency (
        account  TEXT COLLATE "C" NOT NULL,
        key      TEXT COLLATE "C" NOT NULL,
        response TEXT NOT NULL,
        at       BIGINT NOT NULL,
        PRIMARY KEY (account, key)
      );
      CREATE INDEX idempotency_at ON idempotency (at);
      CREATE TABLE registrations (
        account              TEXT COLLATE "C" NOT NULL,
        device               TEXT COLLATE "C" NOT NULL,
        push_address         TEXT COLLATE "C",
        webpush_p256dh       TEXT,
        webpush_auth         TEXT,
        environment          TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
        topic                TEXT,
        badges               BOOLEAN NOT NULL,
        token_registered_at  BIGINT NOT NULL,
        token_invalid_reason TEXT,
        signed_in            BOOLEAN NOT NULL,
        PRIMARY KEY (account, device)
      );
      CREATE INDEX registrations_address ON registrations (push_address) WHERE push_address IS NOT NULL;
      CREATE TABLE revocations (
        account    TEXT COLLATE "C" NOT NULL,
        device     TEXT COLLATE "C" NOT NULL,
        revoked_at BIGINT NOT NULL,
        PRIMARY KEY (account, device)
      );
      CREATE TABLE delivered (
        token TEXT COLLATE "C" PRIMARY KEY,
        badge BIGINT NOT NULL CHECK (badge >= 0),
        at    BIGINT NOT NULL
      );
      -- claimed_by, claim_until: the node sending the entry, and until when (STORE-22).
      CREATE TABLE outbox (
        token       TEXT COLLATE "C" PRIMARY KEY,
        badge       BIGINT NOT NULL CHECK (badge >= 0),
        changed_at  BIGINT NOT NULL,
        due_at      BIGINT NOT NULL,
        attempts    BIGINT NOT NULL CHECK (attempts >= 0),
        parked      BOOLEAN NOT NULL,
        claimed_by  TEXT,
        claim_until BIGINT
      );
      -- Partial: the sender only ever scans entries that are not parked.
      CREATE INDEX outbox_due ON outbox (due_at, token) WHERE NOT parked;
      CREATE TABLE meta (
        key   TEXT COLLATE "C" PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'server client leases',
    // STORE-40: the server client IDs nodes drew per account, and which node holds each until
    // when (lease: a token of that take, so a write fenced by it fails once another node took
    // the ID; leased_until in the database's clock, ms). A released row has no node and no lease.
    sql: `
      CREATE TABLE server_clients (
        account      TEXT COLLATE "C" NOT NULL,
        client_id    BIGINT NOT NULL CHECK (client_id > 0),
        node         TEXT,
        lease        TEXT,
        leased_until BIGINT NOT NULL,
        PRIMARY KEY (account, client_id)
      );
    `,
  },
];

/**
 * How long one migration step (and a node's wait for another node's step) may take, instead of
 * the 30 s a statement gets otherwise (pg-pool.ts): a step that rewrites a large table takes as
 * long as it takes, and the nodes starting meanwhile must wait for it rather than fail. An hour
 * bounds only a step that is truly stuck.
 */
export const MIGRATION_TIMEOUT_MS = 3_600_000;

/** A statement of a migration step, with MIGRATION_TIMEOUT_MS to answer (node-postgres reads `query_timeout`). */
function longStatement(text: string, values?: unknown[]): pg.QueryConfig {
  // Without values, the simple protocol: a step may hold several statements.
  return { text, ...(values === undefined ? {} : { values }), query_timeout: MIGRATION_TIMEOUT_MS } as pg.QueryConfig;
}

/** The schema version this build writes and understands. */
export const PG_SCHEMA_VERSION: number = PG_MIGRATIONS.at(-1)?.version ?? 0;

const CREATE_VERSION_TABLE = `CREATE TABLE IF NOT EXISTS badgesync_schema (
  version    INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/** The schema version of the database: 0 when nothing was ever migrated. */
export async function pgSchemaVersion(db: Queryable): Promise<number> {
  // pg_tables, not to_regclass(): a scan sees what committed since the transaction began, where a
  // name lookup may answer from the connection's catalog cache — the table another node just
  // made would be missed, and its steps applied again.
  const table = await db.query(
    "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'badgesync_schema'",
  );
  if (table.rows.length === 0) return 0;
  const row = await db.query<{ version: number | null }>('SELECT MAX(version) AS version FROM badgesync_schema');
  return row.rows[0]?.version ?? 0;
}

/**
 * Brings the database up to the last of `migrations` and answers that version. Rejects with
 * SchemaTooNewError, having written nothing, when the database is already past it.
 */
export async function migratePg(pool: pg.Pool, migrations: readonly Migration[] = PG_MIGRATIONS): Promise<number> {
  migrations.forEach((step, i) => {
    if (step.version !== i + 1) throw new Error(`migration #${i} has version ${step.version}, expected ${i + 1}`);
  });
  const target = migrations.length;
  // Up to date (every start but the first of a version): one read, no lock to queue on.
  const found = await pgSchemaVersion(pool);
  if (found > target) throw new SchemaTooNewError(found, target);
  if (found === target) return target;
  for (const step of migrations) {
    await inTransaction(pool, async (client) => {
      await client.query(`SET LOCAL statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
      await client.query(longStatement('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY.toString()]));
      // Read under the lock: another node may have migrated meanwhile.
      const current = await pgSchemaVersion(client);
      if (current > target) throw new SchemaTooNewError(current, target);
      if (current >= step.version) return;
      await client.query(CREATE_VERSION_TABLE);
      await client.query(longStatement(step.sql));
      await client.query('INSERT INTO badgesync_schema (version, name, applied_at) VALUES ($1, $2, $3)', [
        step.version,
        step.name,
        Date.now(),
      ]);
    });
  }
  return target;
}
