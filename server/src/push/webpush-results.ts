/**
 * How a push service's answer, or the lack of one, becomes a `SendResult` (SPEC PUSH-21).
 * Pure, so every row is tested without a network (webpush-results.test.ts).
 */
import { resultOfTransportError, SENT } from './apns-results.js';
import type { SendResult } from './push-sender.js';

/** Reasons of the `invalid-token` results of Web Push: the subscription is gone for good. */
export const WebPushGone = {
  /** 404: the push service does not know the subscription (expired, never existed). */
  notFound: 'SubscriptionNotFound',
  /** 410: the user unsubscribed or the browser dropped the subscription. */
  gone: 'SubscriptionGone',
  /** The endpoint is not an https URL on an allowed push service host, or its keys are malformed. */
  badSubscription: 'BadSubscription',
} as const;

/**
 * The longest Retry-After honoured: an hour. A push service asking for longer is most likely
 * misconfigured, and a badge held back longer than that is wrong for too long; the backoff
 * (PUSH-7) still spaces the retries after it.
 */
export const MAX_RETRY_AFTER_MS = 60 * 60_000;

/** An answer of the push service (any status). `retryAfter`: the raw Retry-After header. */
export function resultOfWebPushAnswer(status: number, retryAfter: string | undefined, now: number): SendResult {
  if (status >= 200 && status < 300) return SENT;
  if (status === 404) return { kind: 'invalid-token', reason: WebPushGone.notFound };
  if (status === 410) return { kind: 'invalid-token', reason: WebPushGone.gone };
  // 401/403: the VAPID JWT was refused (wrong key pair for the subscription, bad subject,
  // clock skew): an operator problem, kept pending and logged loudly like APNs's 403.
  if (status === 401 || status === 403) return { kind: 'provider-token', reason: `HTTP ${status}` };
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    const reason = status === 429 ? 'TooManyRequests' : `HTTP ${status}`;
    return retryAfterMs === null ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
  }
  if (status === 413) return { kind: 'failed', reason: 'PayloadTooLarge' };
  return { kind: 'failed', reason: `HTTP ${status}` };
}

/** Retry-After as delay-seconds or an HTTP date (RFC 9110), in ms from `now`, capped; null when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  let ms: number;
  if (/^\d+$/.test(trimmed)) ms = Number(trimmed) * 1000;
  else {
    const at = Date.parse(trimmed);
    if (Number.isNaN(at)) return null;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** Anything thrown that is not an answer: timeouts, refused or reset connections, TLS. */
export function resultOfWebPushError(error: unknown): SendResult {
  if (error instanceof Error && error.message === 'Socket timeout') return { kind: 'retry', reason: 'Timeout' };
  return resultOfTransportError(error);
}
