/**
 * Retry delays for 429, 5xx and network failures (SPEC PUSH-7): exponential with full
 * jitter, so a fleet of nodes recovering from an APNs outage does not retry in lockstep.
 */

/** First retry after about a second: APNs 5xx are usually momentary. */
export const RETRY_BASE_MS = 1_000;
/** Never wait more than 5 minutes between tries: a badge older than that is already wrong for long. */
export const RETRY_MAX_MS = 5 * 60_000;
/** After 8 failed tries (about 8 minutes of backoff in all) the push is parked and counted. */
export const MAX_ATTEMPTS = 8;
/** A rejected provider key is an operator problem: look again every minute, without spinning. */
export const PROVIDER_KEY_RETRY_MS = 60_000;

/** Delay before try number `attempt + 1` (attempt ≥ 1), at least `floorMs` (APNs Retry-After). */
export function retryDelay(attempt: number, random: () => number = Math.random, floorMs = 0): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.max(floorMs, Math.round(ceiling / 2 + random() * (ceiling / 2)));
}
