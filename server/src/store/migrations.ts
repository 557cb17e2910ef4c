/**
 * Schema migrations of the SQLite store (SPEC STORE-12).
 *
 * The version lives in a `schema_version` table, one row per applied step (version, name,
 * applied_at), rather than in `PRAGMA user_version`: the table also says when each step ran,
 * and the same shape carries over to a PostgreSQL store. The schema's version is the largest
 * row. Each step runs in its own IMMEDIATE transaction together with its row, so a step is
 * applied whole or not at all, and two processes opening one file cannot both apply it.
 *
 * Rules for new steps: append, never edit a released step; number them 1, 2, 3, … without
 * gaps. `PRAGMA foreign_keys` cannot change inside a transaction, so a step that rebuilds a
 * table others reference must keep the references valid itself.
 */
import type BetterSqlite3 from 'better-sqlite3';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    // `updates.id` is AUTOINCREMENT on purpose: compaction deletes the newest entries too,
    // and a plain rowid could then be handed out again, at or below a snapshot's
    // through_log_id, where loadDoc would never read it (a lost update).
    sql: `
      CREATE TABLE updates (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        data    BLOB NOT NULL CHECK (typeof(data) = 'blob' AND length(data) > 0)
      );
      CREATE INDEX updates_account_id ON updates (account, id);

      CREATE TABLE snapshots (
        account        TEXT PRIMARY KEY,
        data           BLOB NOT NULL CHECK (typeof(data) = 'blob'),
        through_log_id INTEGER NOT NULL CHECK (through_log_id >= 0)
      ) WITHOUT ROWID;

      CREATE TABLE client_bindings (
        account   TEXT NOT NULL,
        client_id INTEGER NOT NULL CHECK (client_id >= 0),
        device    TEXT NOT NULL,
        PRIMARY KEY (account, client_id)
      ) WITHOUT ROWID;

      CREATE TABLE counts (
        account    TEXT PRIMARY KEY,
        badge      INTEGER NOT NULL CHECK (badge >= 0),
        threads    TEXT NOT NULL CHECK (json_valid(threads)),
        muted      TEXT NOT NULL CHECK (json_valid(muted)),
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE idempotency (
        account  TEXT NOT NULL,
        key      TEXT NOT NULL,
        response TEXT NOT NULL,
        at       INTEGER NOT NULL,
        PRIMARY KEY (account, key)
      ) WITHOUT ROWID;
      CREATE INDEX idempotency_at ON idempotency (at);

      CREATE TABLE devices (
        device               TEXT PRIMARY KEY,
        apns_token           TEXT,
        environment          TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
        topic                TEXT,
        badges               INTEGER NOT NULL CHECK (badges IN (0, 1)),
        token_registered_at  INTEGER NOT NULL,
        token_invalid_reason TEXT
      ) WITHOUT ROWID;

      CREATE TABLE memberships (
        account TEXT NOT NULL,
        device  TEXT NOT NULL REFERENCES devices (device),
        PRIMARY KEY (account, device)
      ) WITHOUT ROWID;
      CREATE INDEX memberships_device ON memberships (device);

      CREATE TABLE delivered (
        device TEXT PRIMARY KEY,
        badge  INTEGER NOT NULL CHECK (badge >= 0),
        at     INTEGER NOT NULL
      ) WITHOUT ROWID;

      CREATE TABLE outbox (
        device     TEXT PRIMARY KEY,
        badge      INTEGER NOT NULL CHECK (badge >= 0),
        changed_at INTEGER NOT NULL,
        due_at     INTEGER NOT NULL,
        attempts   INTEGER NOT NULL CHECK (attempts >= 0),
        parked     INTEGER NOT NULL CHECK (parked IN (0, 1))
      ) WITHOUT ROWID;
      -- Partial: the sender only ever scans entries that are not parked.
      CREATE INDEX outbox_due ON outbox (due_at) WHERE parked = 0;

      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'revocations',
    // When a device was signed out of an account: its tokens issued at or before that
    // moment no longer open a sync connection nor call the device routes (SPEC AUTH-8).
    sql: `
      CREATE TABLE revocations (
        account    TEXT NOT NULL,
        device     TEXT NOT NULL,
        revoked_at INTEGER NOT NULL,
        PRIMARY KEY (account, device)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'push registrations per account and device; outbox and delivered badges per token',
    // A device record was global by device ID: a device token for one account could change the
    // APNs token every other account of that device pushed to. Each (account, device) now has
    // its own registration (a sign-out keeps it, signed out, so its phone's badge can still be
    // cleared), and the phone a push reaches is the APNs token: the outbox and the delivered
    // badges are keyed by it (SPEC STORE-14, PUSH-10).
    //
    // Conversion: a membership becomes a signed-in registration with its device's fields; a
    // sign-out (revocation) without a membership becomes a signed-out one. Outbox entries and
    // delivered badges move to their device's token; devices sharing a token merge into one
    // entry (due at the earliest), and a delivered badge is kept only where they agreed (else
    // the phone is pushed its badge again, which is never wrong).
    sql: `
      CREATE TABLE registrations (
        account              TEXT NOT NULL,
        device               TEXT NOT NULL,
        apns_token           TEXT,
        environment          TEXT NOT NULL CHECK (environment IN ('production', 'sandbox')),
        topic                TEXT,
        badges               INTEGER NOT NULL CHECK (badges IN (0, 1)),
        token_registered_at  INTEGER NOT NULL,
        token_invalid_reason TEXT,
        signed_in            INTEGER NOT NULL CHECK (signed_in IN (0, 1)),
        PRIMARY KEY (account, device)
      ) WITHOUT ROWID;
      CREATE INDEX registrations_token ON registrations (apns_token) WHERE apns_token IS NOT NULL;
      -- Devices of an account (countsCommitted) read signed-in rows by account: the primary key.

      INSERT INTO registrations
        SELECT m.account, d.device, d.apns_token, d.environment, d.topic, d.badges,
               d.token_registered_at, d.token_invalid_reason, 1
        FROM memberships m JOIN devices d ON d.device = m.device;
      INSERT INTO registrations
        SELECT r.account, d.device, d.apns_token, d.environment, d.topic, d.badges,
               d.token_registered_at, d.token_invalid_reason, 0
        FROM revocations r JOIN devices d ON d.device = r.device
        WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.account = r.account AND m.device = r.device);

      CREATE TABLE delivered_by_token (
        token TEXT PRIMARY KEY,
        badge INTEGER NOT NULL CHECK (badge >= 0),
        at    INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO delivered_by_token
        SELECT d.apns_token, MAX(x.badge), MAX(x.at)
        FROM delivered x JOIN devices d ON d.device = x.device
        WHERE d.apns_token IS NOT NULL
        GROUP BY d.apns_token
        HAVING COUNT(DISTINCT x.badge) = 1;

      CREATE TABLE outbox_by_token (
        token      TEXT PRIMARY KEY,
        badge      INTEGER NOT NULL CHECK (badge >= 0),
        changed_at INTEGER NOT NULL,
        due_at     INTEGER NOT NULL,
        attempts   INTEGER NOT NULL CHECK (attempts >= 0),
        parked     INTEGER NOT NULL CHECK (parked IN (0, 1))
      ) WITHOUT ROWID;
      INSERT INTO outbox_by_token
        SELECT d.apns_token, MAX(o.badge), MIN(o.changed_at), MIN(o.due_at), MIN(o.attempts), MIN(o.parked)
        FROM outbox o JOIN devices d ON d.device = o.device
        WHERE d.apns_token IS NOT NULL
        GROUP BY d.apns_token;

      DROP TABLE outbox;
      DROP TABLE delivered;
      DROP TABLE memberships;
      DROP TABLE devices;
      ALTER TABLE delivered_by_token RENAME TO delivered;
      ALTER TABLE outbox_by_token RENAME TO outbox;
      -- Partial: the sender only ever scans entries that are not parked.
      CREATE INDEX outbox_due ON outbox (due_at) WHERE parked = 0;
    `,
  },
  {
    version: 4,
    name: 'counts by thread',
    // Counts were one row per account with every thread's unread and the muted list as JSON,
    // rewritten whole on every change: 100,000 mutes made each change write megabytes. One
    // row per thread (and per mute) lets a change write only the threads it touched (SPEC
    // STORE-15). The old rows are moved over; `counts` keeps the badge.
    sql: `
      CREATE TABLE count_threads (
        account TEXT NOT NULL,
        thread  TEXT NOT NULL,
        unread  INTEGER NOT NULL CHECK (unread >= 0),
        PRIMARY KEY (account, thread)
      ) WITHOUT ROWID;
      CREATE TABLE count_mutes (
        account TEXT NOT NULL,
        thread  TEXT NOT NULL,
        PRIMARY KEY (account, thread)
      ) WITHOUT ROWID;
      INSERT INTO count_threads (account, thread, unread)
        SELECT counts.account, t.key, t.value FROM counts, json_each(counts.threads) AS t;
      INSERT OR IGNORE INTO count_mutes (account, thread)
        SELECT counts.account, m.value FROM counts, json_each(counts.muted) AS m;
      CREATE TABLE account_badges (
        account    TEXT PRIMARY KEY,
        badge      INTEGER NOT NULL CHECK (badge >= 0),
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      INSERT INTO account_badges (account, badge, updated_at) SELECT account, badge, updated_at FROM counts;
      DROP TABLE counts;
      ALTER TABLE account_badges RENAME TO counts;
    `,
  },
  {
    version: 5,
    name: 'push addresses: APNs, FCM and Web Push registrations',
    // A registration may now name an FCM token or a Web Push subscription instead of an APNs
    // token (SPEC STORE-19). The column holds the push address: an APNs token stays as it was
    // (bare lower-case hex), so stored registrations, outbox entries and delivered badges
    // keep their meaning without a rewrite; other platforms are prefixed (`fcm:`, `webpush:`).
    // A Web Push subscription's keys are needed to encrypt each push, so they are kept beside
    // it. RENAME COLUMN carries the index along.
    sql: `
      ALTER TABLE registrations RENAME COLUMN apns_token TO push_address;
      ALTER TABLE registrations ADD COLUMN webpush_p256dh TEXT;
      ALTER TABLE registrations ADD COLUMN webpush_auth TEXT;
    `,
  },
];

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;

/** The file was written by a newer badgesync; opening it with this build could corrupt it. */
export class SchemaTooNewError extends Error {
  readonly code = 'schema_too_new';
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `database schema version ${found} is newer than this build supports (${supported}): ` +
        'run the badgesync version that wrote it, or point BADGESYNC_DB at another file',
    );
    this.name = 'SchemaTooNewError';
  }
}

/** The schema version of an open database: 0 for an empty file. */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (table === undefined) return 0;
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_version').get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Brings the database up to the last of `migrations` and returns that version. Throws
 * SchemaTooNewError, before writing anything, when the file is already past it.
 */
export function migrate(db: BetterSqlite3.Database, migrations: readonly Migration[] = MIGRATIONS): number {
  migrations.forEach((step, i) => {
    if (step.version !== i + 1) throw new Error(`migration #${i} has version ${step.version}, expected ${i + 1}`);
  });
  const target = migrations.length;
  const found = schemaVersion(db);
  if (found > target) throw new SchemaTooNewError(found, target);
  if (found === target) return target;

  const apply = db.transaction((step: Migration) => {
    // Re-read inside the write lock: another process may have applied it meanwhile.
    const current = schemaVersion(db);
    if (current >= step.version) return;
    db.exec(`CREATE TABLE IF NOT EXISTS schema_version (
      version    INTEGER PRIMARY KEY,
      name       TEXT NOT NULL,
      applied_at INTEGER NOT NULL
    )`);
    db.exec(step.sql);
    db.prepare('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)').run(
      step.version,
      step.name,
      Date.now(),
    );
  });
  for (const step of migrations) {
    if (step.version > found) apply.immediate(step);
  }
  return target;
}
