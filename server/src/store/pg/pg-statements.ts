/**
 * Every SQL statement the PostgreSQL store runs, and the rows they answer (int8 read as
 * numbers, pg-pool.ts). Each read that combines tables is one statement, so it reads one
 * snapshot of the database: never a document half compacted, never counts half written.
 */

export interface PartRow {
  /** Which part of a combined read the row belongs to (see each statement). */
  readonly part: number;
  readonly seq: number | null;
  readonly data: Buffer | null;
}
export interface CountsRow {
  readonly part: number;
  readonly thread: string | null;
  readonly n: number | null;
}

/** The database's clock in ms (leases are timed by it, not by the nodes' clocks). */
const NOW_MS = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

const OUTBOX_COLUMNS = 'token, badge, changed_at, due_at, attempts, parked';

export const SQL = {
  // STORE-20: every account the batch touches is locked, in account order (so two batches never
  // wait on each other in a cycle), and given `n` more seqs ($1, $2; its row is made when
  // missing); in the same statement each update ($3, its place among its account's updates of
  // the batch $4, $5) is appended under the account's newest seq before the batch plus its place.
  takeSeqsAndAppend: `WITH taken AS (
      INSERT INTO accounts (account, log_seq)
      SELECT account, n FROM unnest($1::text[], $2::bigint[]) AS t(account, n) ORDER BY account
      ON CONFLICT (account) DO UPDATE SET log_seq = accounts.log_seq + excluded.log_seq
      RETURNING account, log_seq),
    appended AS (
      INSERT INTO updates (account, seq, data)
      SELECT u.account, taken.log_seq - t.n + u.place, u.data
      FROM unnest($3::text[], $4::bigint[], $5::bytea[]) AS u(account, place, data)
      JOIN taken ON taken.account = u.account
      JOIN unnest($1::text[], $2::bigint[]) AS t(account, n) ON t.account = u.account)
    SELECT account, log_seq FROM taken`,
  // Compaction and replacement lock the account's row as a commit does: they serialize with it.
  lockAccount: `INSERT INTO accounts (account, log_seq) VALUES ($1, 0)
    ON CONFLICT (account) DO UPDATE SET log_seq = accounts.log_seq
    RETURNING log_seq`,

  // STORE-5, STORE-15 counts, each statement for every account of a batch (distinct accounts):
  // badges ($1, $2) at $3; the threads (mutes) of whole entries' accounts ($1) not among the
  // (account, thread) pairs they list ($2, $3); pairs deleted; pairs (with unread) written.
  putBadges: `INSERT INTO counts (account, badge, updated_at)
    SELECT account, badge, $3 FROM unnest($1::text[], $2::bigint[]) AS t(account, badge)
    ON CONFLICT (account) DO UPDATE SET badge = excluded.badge, updated_at = excluded.updated_at`,
  keepOnlyThreads: `DELETE FROM count_threads c WHERE c.account = ANY ($1::text[]) AND NOT EXISTS (
      SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(account, thread)
      WHERE k.account = c.account AND k.thread = c.thread)`,
  putThreads: `INSERT INTO count_threads (account, thread, unread)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
    ON CONFLICT (account, thread) DO UPDATE SET unread = excluded.unread`,
  deleteThreads: `DELETE FROM count_threads c USING unnest($1::text[], $2::text[]) AS d(account, thread)
    WHERE c.account = d.account AND c.thread = d.thread`,
  keepOnlyMutes: `DELETE FROM count_mutes c WHERE c.account = ANY ($1::text[]) AND NOT EXISTS (
      SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(account, thread)
      WHERE k.account = c.account AND k.thread = c.thread)`,
  putMutes: `INSERT INTO count_mutes (account, thread) SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT DO NOTHING`,
  deleteMutes: `DELETE FROM count_mutes c USING unnest($1::text[], $2::text[]) AS d(account, thread)
    WHERE c.account = d.account AND c.thread = d.thread`,
  // Parts: 0 the badge, 1 each thread's unread, 2 each muted thread.
  counts: `SELECT 0 AS part, NULL AS thread, badge AS n FROM counts WHERE account = $1
    UNION ALL SELECT 1, thread, unread FROM count_threads WHERE account = $1
    UNION ALL SELECT 2, thread, NULL FROM count_mutes WHERE account = $1
    ORDER BY part, thread`,
  badges: 'SELECT account, badge FROM counts WHERE account = ANY ($1::text[])',

  // STORE-4: the first device to use a client ID keeps it, within a batch too (in its order).
  bind: `INSERT INTO client_bindings (account, client_id, device)
    SELECT account, client_id, device
    FROM unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS t(account, client_id, device, i)
    ORDER BY i
    ON CONFLICT DO NOTHING`,
  bindings: 'SELECT client_id, device FROM client_bindings WHERE account = $1',

  // STORE-6 idempotency (one entry per key: the batch's last)
  putIdempotent: `INSERT INTO idempotency (account, key, response, at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])
    ON CONFLICT (account, key) DO UPDATE SET response = excluded.response, at = excluded.at`,
  idempotent: 'SELECT response FROM idempotency WHERE account = $1 AND key = $2 AND at >= $3',
  // STORE-26: the log after a replica's seq, read under the account's lock (no newest-seq part:
  // the lock answered it). Parts as logSince's.
  tailSince: `WITH s AS (SELECT data, through_seq FROM snapshots WHERE account = $1)
    SELECT 0 AS part, through_seq AS seq, data FROM s WHERE through_seq > $2 OR $2 = 0
    UNION ALL
    SELECT 1, seq, data FROM updates
    WHERE account = $1 AND seq > GREATEST($2, COALESCE((SELECT through_seq FROM s), 0))
    ORDER BY part, seq`,
  purgeIdempotent: 'DELETE FROM idempotency WHERE at < $1',

  // STORE-2, STORE-3 documents. Parts: 0 the snapshot (seq: the last it covers), 1 the log after it.
  loadDoc: `WITH s AS (SELECT data, through_seq FROM snapshots WHERE account = $1)
    SELECT 0 AS part, through_seq AS seq, data FROM s
    UNION ALL
    SELECT 1, seq, data FROM updates
    WHERE account = $1 AND seq > COALESCE((SELECT through_seq FROM s), 0)
    ORDER BY part, seq`,
  // STORE-21. Parts: 0 the snapshot when it covers seqs after $2 (or $2 is 0: a replica with
  // nothing), 1 the log after both, 2 the account's newest seq (no data).
  logSince: `WITH s AS (SELECT data, through_seq FROM snapshots WHERE account = $1)
    SELECT 0 AS part, through_seq AS seq, data FROM s WHERE through_seq > $2 OR $2 = 0
    UNION ALL
    SELECT 1, seq, data FROM updates
    WHERE account = $1 AND seq > GREATEST($2, COALESCE((SELECT through_seq FROM s), 0))
    UNION ALL
    SELECT 2, log_seq, NULL FROM accounts WHERE account = $1
    ORDER BY part, seq`,
  logSeqs: 'SELECT account, log_seq FROM accounts WHERE account = ANY ($1::text[])',
  snapshotThrough: 'SELECT through_seq FROM snapshots WHERE account = $1',
  // An older snapshot never replaces a newer one (the entries between them are gone).
  putSnapshot: `INSERT INTO snapshots (account, data, through_seq) VALUES ($1, $2, $3)
    ON CONFLICT (account) DO UPDATE SET data = excluded.data, through_seq = excluded.through_seq
    WHERE snapshots.through_seq <= excluded.through_seq`,
  deleteLogThrough: 'DELETE FROM updates WHERE account = $1 AND seq <= $2',

  // STORE-7, STORE-14, STORE-19 registrations
  registration: 'SELECT * FROM registrations WHERE account = $1 AND device = $2',
  registrationForUpdate: 'SELECT * FROM registrations WHERE account = $1 AND device = $2 FOR UPDATE',
  putRegistration: `INSERT INTO registrations (account, device, push_address, webpush_p256dh, webpush_auth, environment,
      topic, badges, token_registered_at, token_invalid_reason, signed_in)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, true)
    ON CONFLICT (account, device) DO UPDATE SET
      push_address = excluded.push_address, webpush_p256dh = excluded.webpush_p256dh,
      webpush_auth = excluded.webpush_auth, environment = excluded.environment, topic = excluded.topic,
      badges = excluded.badges, token_registered_at = excluded.token_registered_at,
      token_invalid_reason = excluded.token_invalid_reason, signed_in = true`,
  signOut: 'UPDATE registrations SET signed_in = false WHERE account = $1 AND device = $2 AND signed_in',
  revoke: `INSERT INTO revocations (account, device, revoked_at) VALUES ($1, $2, $3)
    ON CONFLICT (account, device) DO UPDATE SET revoked_at = excluded.revoked_at`,
  revokedAt: 'SELECT revoked_at FROM revocations WHERE account = $1 AND device = $2',
  devicesOf: 'SELECT device FROM registrations WHERE account = $1 AND signed_in ORDER BY device',
  registrationsOf: 'SELECT * FROM registrations WHERE account = $1 AND signed_in ORDER BY device',
  registrationsOfToken: 'SELECT * FROM registrations WHERE push_address = $1 ORDER BY account, device',
  pushableTokens: `SELECT DISTINCT push_address FROM registrations
    WHERE push_address IS NOT NULL AND token_invalid_reason IS NULL AND badges ORDER BY push_address`,
  // A null topic (the configured one) matches null.
  invalidateToken: `UPDATE registrations SET token_invalid_reason = $1
    WHERE push_address = $2 AND token_registered_at <= $3 AND environment = $4 AND topic IS NOT DISTINCT FROM $5`,

  // STORE-8 push state, by push address
  delivered: 'SELECT badge FROM delivered WHERE token = $1',
  clearDelivered: 'DELETE FROM delivered WHERE token = $1',
  setDelivered: `INSERT INTO delivered (token, badge, at) VALUES ($1, $2, $3)
    ON CONFLICT (token) DO UPDATE SET badge = excluded.badge, at = excluded.at`,
  // STORE-22: a new value of the entry is nobody's yet.
  enqueuePush: `INSERT INTO outbox (token, badge, changed_at, due_at, attempts, parked) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (token) DO UPDATE SET
      badge = excluded.badge, changed_at = excluded.changed_at, due_at = excluded.due_at,
      attempts = excluded.attempts, parked = excluded.parked, claimed_by = NULL, claim_until = NULL`,
  push: `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE token = $1`,
  removePush: 'DELETE FROM outbox WHERE token = $1 AND badge = $2',
  duePushes: `SELECT ${OUTBOX_COLUMNS} FROM outbox WHERE NOT parked AND due_at <= $1 ORDER BY due_at, token LIMIT $2`,
  countPushes: `SELECT count(*) FILTER (WHERE NOT parked) AS pending, count(*) FILTER (WHERE parked) AS parked
    FROM outbox`,
  // STORE-22: entries another node is claiming right now are skipped, not waited for.
  claimDuePushes: `WITH due AS (
      SELECT token FROM outbox
      WHERE NOT parked AND due_at <= $2 AND (claim_until IS NULL OR claim_until <= $2)
      ORDER BY due_at, token LIMIT $3
      FOR UPDATE SKIP LOCKED)
    UPDATE outbox SET claimed_by = $1, claim_until = $4
    FROM due WHERE outbox.token = due.token
    RETURNING outbox.token, badge, changed_at, due_at, attempts, parked`,

  // STORE-35: when each entry may be claimed: a claim holds it until the claim ends, the
  // asking node's own included (claimDuePushes never re-takes a live claim, so answering it at
  // its due time armed a timer that fired, claimed nothing and re-armed until the lease ended).
  // Two ordered reads of the outbox: unclaimed entries by due time (the outbox_due index,
  // stopping early), and the claimed ones, all due (a claim is taken on a due entry, and a new
  // value clears it) and few (each node claims at most what it has room to send).
  peekPushes: `SELECT ${OUTBOX_COLUMNS} FROM (
      (SELECT ${OUTBOX_COLUMNS} FROM outbox
        WHERE NOT parked AND claimed_by IS NULL
        ORDER BY due_at, token LIMIT $2)
      UNION ALL
      (SELECT token, badge, changed_at, GREATEST(due_at, claim_until) AS due_at, attempts, parked FROM outbox
        WHERE NOT parked AND due_at <= $1 AND claimed_by IS NOT NULL
        ORDER BY 4, token LIMIT $2)
    ) AS peek ORDER BY due_at, token LIMIT $2`,
  // STORE-36: claims the node took and will not send now go back at once.
  releasePushes: `UPDATE outbox SET claimed_by = NULL, claim_until = NULL
    WHERE claimed_by = $1 AND token = ANY ($2::text[])`,

  // STORE-34: the draining node's claims cleared; of the entries it queued, those nobody else
  // holds and not waiting out a retry's backoff (attempts > 0: a push service's Retry-After)
  // are due at once (never later). Another node's live claim is its send in flight: clearing
  // it would let a third node send the same badge again.
  handOverPushes: `UPDATE outbox SET claimed_by = NULL, claim_until = NULL,
      due_at = CASE WHEN NOT parked AND attempts = 0 AND token = ANY ($2::text[]) THEN LEAST(due_at, $3) ELSE due_at END
    WHERE claimed_by = $1
      OR (NOT parked AND attempts = 0 AND token = ANY ($2::text[]) AND (claimed_by IS NULL OR claim_until <= $3))`,

  // STORE-9 meta
  meta: 'SELECT value FROM meta WHERE key = $1',
  claimMeta:
    'WITH claimed AS (INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value) ' +
    'SELECT value FROM claimed UNION ALL SELECT value FROM meta WHERE key = $1',
  setMeta: 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value',

  // STORE-40..STORE-42 server client leases (server_clients). Times in the database's clock
  // (NOW_MS), so nodes' clocks need not agree. Take: the lowest free ID of the account (never
  // leased, released, or lapsed) that no device holds a binding of, skipping rows another
  // transaction is taking or fencing; leased to $2 under token $3 for $4 ms. $5 is SERVER_DEVICE.
  takeServerClient: `WITH free AS (
      SELECT s.client_id FROM server_clients s
      WHERE s.account = $1 AND (s.lease IS NULL OR s.leased_until <= ${NOW_MS})
        AND NOT EXISTS (SELECT 1 FROM client_bindings b
          WHERE b.account = s.account AND b.client_id = s.client_id AND b.device <> $5)
      ORDER BY s.client_id LIMIT 1
      FOR UPDATE OF s SKIP LOCKED)
    UPDATE server_clients s SET node = $2, lease = $3, leased_until = ${NOW_MS} + $4
    FROM free WHERE s.account = $1 AND s.client_id = free.client_id
    RETURNING s.client_id`,
  // A new ID ($2), leased at once, only when nothing is bound to it and no row holds it.
  drawServerClient: `INSERT INTO server_clients (account, client_id, node, lease, leased_until)
    SELECT $1::text, $2::bigint, $3::text, $4::text, ${NOW_MS} + $5
    WHERE NOT EXISTS (SELECT 1 FROM client_bindings WHERE account = $1 AND client_id = $2)
    ON CONFLICT DO NOTHING
    RETURNING client_id`,
  // The leases of $2 node $1 still holds, extended; a lapsed one nobody took is still its own.
  renewServerClients: `UPDATE server_clients SET leased_until = ${NOW_MS} + $3
    WHERE node = $1 AND lease = ANY ($2::text[])
    RETURNING lease`,
  releaseServerClient: `UPDATE server_clients SET node = NULL, lease = NULL, leased_until = 0
    WHERE account = $1 AND client_id = $2 AND lease = $3`,
  // STORE-42: inside exclusive, the row of the lease locked (a take skips it, a release waits).
  fenceServerClient: 'SELECT 1 FROM server_clients WHERE account = $1 AND client_id = $2 AND lease = $3 FOR SHARE',

  ping: 'SELECT 1',
} as const;

/** Bytes as their own Uint8Array (not a view of the driver's buffer). */
export function ownBytes(data: Buffer): Uint8Array {
  return new Uint8Array(data);
}
