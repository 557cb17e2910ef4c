/**
 * Every SQL statement SqliteStore runs, prepared once when the store opens (preparing costs
 * more than running a small statement). Rows are typed as SQLite returns them.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { OutboxRow, RegistrationRow } from './store-rows.js';

export interface LogRow {
  readonly id: number;
  readonly data: Buffer;
}
export interface SnapshotRow {
  readonly data: Buffer;
  readonly through_log_id: number;
}
export interface BindingRow {
  readonly client_id: number;
  readonly device: string;
}

type Db = BetterSqlite3.Database;

/** @internal Only SqliteStore uses these; the published types leave them out. */
export function prepareStatements(db: Db) {
  return {
    // STORE-1 commit
    appendUpdate: db.prepare<[string, Uint8Array]>('INSERT INTO updates (account, data) VALUES (?, ?)'),
    // STORE-15: the badge per account, unread per thread, one row per muted thread.
    putBadge: db.prepare<[string, number, number]>(
      `INSERT INTO counts (account, badge, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (account) DO UPDATE SET badge = excluded.badge, updated_at = excluded.updated_at`,
    ),
    putThread: db.prepare<[string, string, number]>(
      `INSERT INTO count_threads (account, thread, unread) VALUES (?, ?, ?)
       ON CONFLICT (account, thread) DO UPDATE SET unread = excluded.unread`,
    ),
    deleteThread: db.prepare<[string, string]>('DELETE FROM count_threads WHERE account = ? AND thread = ?'),
    deleteThreads: db.prepare<[string]>('DELETE FROM count_threads WHERE account = ?'),
    putMute: db.prepare<[string, string]>(
      'INSERT INTO count_mutes (account, thread) VALUES (?, ?) ON CONFLICT DO NOTHING',
    ),
    deleteMute: db.prepare<[string, string]>('DELETE FROM count_mutes WHERE account = ? AND thread = ?'),
    deleteMutes: db.prepare<[string]>('DELETE FROM count_mutes WHERE account = ?'),
    // The first device to use a client ID keeps it (STORE-4).
    bind: db.prepare<[string, number, string]>(
      'INSERT INTO client_bindings (account, client_id, device) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    putIdempotent: db.prepare<[string, string, string, number]>(
      `INSERT INTO idempotency (account, key, response, at) VALUES (?, ?, ?, ?)
       ON CONFLICT (account, key) DO UPDATE SET response = excluded.response, at = excluded.at`,
    ),

    // STORE-2, STORE-3 documents
    snapshot: db.prepare<[string], SnapshotRow>('SELECT data, through_log_id FROM snapshots WHERE account = ?'),
    logAfter: db.prepare<[string, number], LogRow>(
      'SELECT id, data FROM updates WHERE account = ? AND id > ? ORDER BY id',
    ),
    putSnapshot: db.prepare<[string, Uint8Array, number]>(
      `INSERT INTO snapshots (account, data, through_log_id) VALUES (?, ?, ?)
       ON CONFLICT (account) DO UPDATE SET data = excluded.data, through_log_id = excluded.through_log_id`,
    ),
    deleteLogThrough: db.prepare<[string, number]>('DELETE FROM updates WHERE account = ? AND id <= ?'),
    // AUTOINCREMENT keeps the highest ID ever issued here, even after its row is deleted.
    lastIssuedLogId: db.prepare<[], { seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'updates'"),

    // STORE-4 bindings
    bindings: db.prepare<[string], BindingRow>('SELECT client_id, device FROM client_bindings WHERE account = ?'),

    // STORE-5 counts
    threads: db.prepare<[string], { thread: string; unread: number }>(
      'SELECT thread, unread FROM count_threads WHERE account = ? ORDER BY thread',
    ),
    mutes: db.prepare<[string], { thread: string }>('SELECT thread FROM count_mutes WHERE account = ? ORDER BY thread'),
    badge: db.prepare<[string], { badge: number }>('SELECT badge FROM counts WHERE account = ?'),

    // STORE-6 idempotency
    idempotent: db.prepare<[string, string, number], { response: string }>(
      'SELECT response FROM idempotency WHERE account = ? AND key = ? AND at >= ?',
    ),
    purgeIdempotent: db.prepare<[number]>('DELETE FROM idempotency WHERE at < ?'),

    // STORE-7, STORE-14 registrations
    registration: db.prepare<[string, string], RegistrationRow>(
      'SELECT * FROM registrations WHERE account = ? AND device = ?',
    ),
    putRegistration: db.prepare<
      [
        string,
        string,
        string | null,
        string | null,
        string | null,
        string,
        string | null,
        number,
        number,
        string | null,
      ]
    >(
      `INSERT INTO registrations (account, device, push_address, webpush_p256dh, webpush_auth, environment, topic,
                                  badges, token_registered_at, token_invalid_reason, signed_in)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)
       ON CONFLICT (account, device) DO UPDATE SET
         push_address = excluded.push_address, webpush_p256dh = excluded.webpush_p256dh,
         webpush_auth = excluded.webpush_auth, environment = excluded.environment, topic = excluded.topic,
         badges = excluded.badges, token_registered_at = excluded.token_registered_at,
         token_invalid_reason = excluded.token_invalid_reason, signed_in = 1`,
    ),
    signOut: db.prepare<[string, string]>(
      'UPDATE registrations SET signed_in = 0 WHERE account = ? AND device = ? AND signed_in = 1',
    ),
    revoke: db.prepare<[string, string, number]>(
      'INSERT INTO revocations (account, device, revoked_at) VALUES (?, ?, ?) ' +
        'ON CONFLICT (account, device) DO UPDATE SET revoked_at = excluded.revoked_at',
    ),
    revokedAt: db.prepare<[string, string], { revoked_at: number }>(
      'SELECT revoked_at FROM revocations WHERE account = ? AND device = ?',
    ),
    devicesOf: db.prepare<[string], { device: string }>(
      'SELECT device FROM registrations WHERE account = ? AND signed_in = 1 ORDER BY device',
    ),
    registrationsOf: db.prepare<[string], RegistrationRow>(
      'SELECT * FROM registrations WHERE account = ? AND signed_in = 1 ORDER BY device',
    ),
    registrationsOfToken: db.prepare<[string], RegistrationRow>(
      'SELECT * FROM registrations WHERE push_address = ? ORDER BY account, device',
    ),
    pushableTokens: db.prepare<[], { push_address: string }>(
      `SELECT DISTINCT push_address FROM registrations
       WHERE push_address IS NOT NULL AND token_invalid_reason IS NULL AND badges = 1 ORDER BY push_address`,
    ),
    // `topic IS ?`: a null topic (the configured one) matches null.
    invalidateToken: db.prepare<[string, string, number, string, string | null]>(
      `UPDATE registrations SET token_invalid_reason = ?
       WHERE push_address = ? AND token_registered_at <= ? AND environment = ? AND topic IS ?`,
    ),

    // STORE-8 push state, by APNs token
    delivered: db.prepare<[string], { badge: number }>('SELECT badge FROM delivered WHERE token = ?'),
    clearDelivered: db.prepare<[string]>('DELETE FROM delivered WHERE token = ?'),
    setDelivered: db.prepare<[string, number, number]>(
      `INSERT INTO delivered (token, badge, at) VALUES (?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET badge = excluded.badge, at = excluded.at`,
    ),
    enqueuePush: db.prepare<[string, number, number, number, number, number]>(
      `INSERT INTO outbox (token, badge, changed_at, due_at, attempts, parked) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (token) DO UPDATE SET
         badge = excluded.badge, changed_at = excluded.changed_at, due_at = excluded.due_at,
         attempts = excluded.attempts, parked = excluded.parked`,
    ),
    push: db.prepare<[string], OutboxRow>('SELECT * FROM outbox WHERE token = ?'),
    removePush: db.prepare<[string, number]>('DELETE FROM outbox WHERE token = ? AND badge = ?'),
    // `parked = 0` spelled out so SQLite picks the partial index outbox_due.
    duePushes: db.prepare<[number, number], OutboxRow>(
      'SELECT * FROM outbox WHERE parked = 0 AND due_at <= ? ORDER BY due_at, token LIMIT ?',
    ),
    countPushes: db.prepare<[], { pending: number | null; parked: number | null }>(
      'SELECT SUM(parked = 0) AS pending, SUM(parked = 1) AS parked FROM outbox',
    ),

    // STORE-9 meta
    meta: db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
    claimMeta: db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
    setMeta: db.prepare<[string, string]>(
      'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    ),
  };
}

/** @internal */
export type Statements = ReturnType<typeof prepareStatements>;
