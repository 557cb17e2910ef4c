/**
 * The PostgreSQL store's connections (node-postgres `Pool`): how they are opened, what every
 * one of them is set to, and the one way the store runs a transaction on them.
 *
 * A connection the server kills (restart, failover, `pg_terminate_backend`) fails the call that
 * was using it, with an error; the pool drops it and opens a fresh one for the next call, so the
 * store recovers without anyone reopening it (SPEC STORE-24).
 */
import pg from 'pg';

/**
 * Connections per node. Writes run one at a time (call-order.ts); the rest serve reads side by
 * side. Ten is node-postgres's default and leaves room for ten nodes under PostgreSQL's default
 * `max_connections` (100).
 */
export const POOL_SIZE = 10;
/**
 * How long opening a connection may take before the call that needed it fails: a database that
 * cannot be reached shows as errors (and a failing /readyz) rather than calls that never answer.
 */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * How long one statement may run, lock waits included, before PostgreSQL cancels it (the call
 * fails, the connection stays usable). The store's statements take milliseconds and hold row
 * locks as briefly; one still running after this is stuck, and an error says so.
 */
export const STATEMENT_TIMEOUT_MS = 30_000;
/**
 * How long the client waits for a statement's answer before it gives the connection up: the
 * server's own timeout (STATEMENT_TIMEOUT_MS) fires first unless the network dropped the
 * connection without a reset, which TCP keepalive would notice only after minutes.
 */
export const ANSWER_TIMEOUT_MS = 2 * STATEMENT_TIMEOUT_MS;
/**
 * How long a connection may sit inside a transaction between two statements before PostgreSQL
 * ends its session. The store's transactions run their statements back to back; a node stopped
 * or cut off in the middle of one would otherwise hold its accounts' row locks, and every other
 * node's commits to them, until its TCP connection times out (minutes).
 */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
/**
 * How many times a transaction PostgreSQL aborted to break a deadlock (two nodes' batches
 * taking push rows in opposite orders) or a serialization failure is run again. Both leave
 * nothing written, so running the whole batch again is safe; more than a few in a row means
 * something else is wrong.
 */
export const TRANSACTION_ATTEMPTS = 5;

/**
 * PostgreSQL keeps the first 63 bytes of a connection's `application_name` (NAMEDATALEN - 1)
 * and drops the rest: a node ID longer than what fits after the `badgesync:` tag is cut there.
 */
export const APPLICATION_NAME_MAX_BYTES = 63;

/**
 * The `application_name` of a node's connections: `badgesync`, or `badgesync:<node ID>` in a
 * cluster, so `pg_stat_activity` tells which node holds which connection (an operator cutting
 * one node off, a test terminating its connections). Node IDs are printable ASCII (one byte a
 * character), so cutting by characters cuts by bytes.
 */
export function applicationName(nodeId?: string): string {
  return (nodeId === undefined ? 'badgesync' : `badgesync:${nodeId}`).slice(0, APPLICATION_NAME_MAX_BYTES);
}

/** SQLSTATEs of an aborted transaction that may simply be run again. */
const RETRYABLE = new Set(['40P01', '40001']);

/** int8 (OID 20): sequences, counts and times in ms, all below 2^53, read as numbers. */
const INT8_OID = 20;

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  /** `postgres://user:password@host:port/database` (BADGESYNC_DATABASE_URL). */
  readonly url: string;
  /** Told of errors of idle connections (the pool drops them); they fail no call. */
  readonly onIdleError?: (err: Error) => void;
  /** Connections at most (default POOL_SIZE). */
  readonly max?: number;
  /** The node's ID, named in every connection's `application_name` (`applicationName`). */
  readonly nodeId?: string;
}

/** A pool whose connections commit synchronously (durable when COMMIT answers) and read int8 as numbers. */
export function openPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: ANSWER_TIMEOUT_MS,
    keepAlive: true,
    // STORE-1: a commit is durable when it answers, whatever the server's default says.
    options: [
      '-c synchronous_commit=on',
      `-c statement_timeout=${STATEMENT_TIMEOUT_MS}`,
      `-c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_TIMEOUT_MS}`,
    ].join(' '),
    application_name: applicationName(options.nodeId),
    types,
  });
  // An idle connection killed by the server emits here; without a listener it would end the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  return pool;
}

/** A pool or one of its connections: what runs a statement. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** A SQLSTATE, when `err` carries one. */
export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Runs `work` in one transaction on one connection of the pool: COMMIT when it resolves
 * (durable then), ROLLBACK when it rejects. A deadlock or serialization abort runs it again
 * (`attempts`, default TRANSACTION_ATTEMPTS), so `work` must do nothing but statements on
 * `client` — or be run once (`attempts` 1). A connection that failed is destroyed rather than
 * given back.
 */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  attempts = TRANSACTION_ATTEMPTS,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await onceInTransaction(pool, work);
    } catch (err) {
      if (attempt >= attempts || !RETRYABLE.has(sqlState(err) ?? '')) throw err;
    }
  }
}

async function onceInTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out connection has no listener of the pool's: a kill between two statements
  // would otherwise be an unhandled 'error' event. The statement in flight fails anyway.
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection already known dead is not asked; on a hung one the ROLLBACK fails by its
    // own ANSWER_TIMEOUT_MS. Either way a connection that could not roll back is destroyed.
    broken ??= await rollback(client);
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken ?? false);
  }
}

/** Rolls back; answers the error when even that failed (the connection is then unusable). */
async function rollback(client: pg.PoolClient): Promise<Error | undefined> {
  try {
    await client.query('ROLLBACK');
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}
