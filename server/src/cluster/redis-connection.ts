/**
 * One ioredis connection of a node, with the options every cluster connection shares
 * (SPEC CLUSTER-1): a client name to find it by, reconnect with a capped backoff.
 */
import { Redis } from 'ioredis';

/**
 * Reconnect after 100 ms, 200 ms, … up to 2 s: a restarted Redis is back within a second or
 * two, and a node polling a dead one every 2 s costs nothing; longer would leave the bus (and
 * with it every relay between nodes) down for longer than a Redis restart takes.
 */
export const RECONNECT_STEP_MS = 100;
export const RECONNECT_MAX_MS = 2_000;

/**
 * 5 s to open a TCP connection and get Redis's first answer: a healthy Redis on the same
 * network answers in milliseconds; beyond this the attempt is dropped and retried.
 */
export const CONNECT_TIMEOUT_MS = 5_000;

export interface RedisConnectionOptions {
  readonly url: string;
  readonly name: string;
  /** Queue commands while disconnected and send them on reconnect (false: fail them at once). */
  readonly offlineQueue: boolean;
  /** Fail a queued command after this many reconnect attempts (null: wait forever). */
  readonly maxRetriesPerRequest: number | null;
}

export function openRedis(options: RedisConnectionOptions): Redis {
  return new Redis(options.url, {
    connectionName: options.name,
    // The bus resubscribes itself, so it knows when the subscription is back (CLUSTER-6).
    autoResubscribe: false,
    // Commands in flight when the connection dropped are sent again once it is back. Not an
    // option to turn off: ioredis 6 then forgets them without settling their promises (a
    // publish that never answers). A publish sent twice is a duplicate seq the receiver skips;
    // the presence writes are idempotent.
    autoResendUnfulfilledCommands: true,
    enableOfflineQueue: options.offlineQueue,
    maxRetriesPerRequest: options.maxRetriesPerRequest,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt: number) => Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_MS),
  });
}
