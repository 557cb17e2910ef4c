/**
 * How an APNs answer, or the lack of one, becomes a `SendResult`. Pure, so every row of
 * Apple's table is tested without a network (apns-results.test.ts).
 */
import { InvalidTokenReason, SENDER_CLOSED, type SendResult } from './push-sender.js';

export const SENT: SendResult = { kind: 'sent' };

const INVALID_TOKEN_REASONS: ReadonlySet<string> = new Set(Object.values(InvalidTokenReason));

/** 400/429 reasons that are about the moment, not the push: Apple says send again later. */
const TRANSIENT_REASONS: ReadonlySet<string> = new Set([
  'TooManyRequests',
  'TooManyProviderTokenUpdates',
  'IdleTimeout',
]);

/**
 * An APNs error answer (any status but 200). ExpiredProviderToken is not decided here: the
 * sender renews the token and tries once more before it becomes `provider-token`.
 */
export function resultOfApnsAnswer(status: number, reason: string, timestamp?: number): SendResult {
  if (status === 410 || INVALID_TOKEN_REASONS.has(reason)) {
    // Apple sends `timestamp` with 410 only: since when the token is gone.
    return status === 410 && typeof timestamp === 'number' && Number.isFinite(timestamp)
      ? { kind: 'invalid-token', reason, timestamp }
      : { kind: 'invalid-token', reason };
  }
  if (status === 403) {
    return { kind: 'provider-token', reason };
  }
  if (status === 429 || status >= 500 || TRANSIENT_REASONS.has(reason)) {
    return { kind: 'retry', reason };
  }
  return { kind: 'failed', reason: reason === '' ? `HTTP ${status}` : reason };
}

/** Error codes of a TLS peer we do not trust: a deployment problem worth a loud log. */
const TLS_TRUST_CODE = /CERT|SIGNATURE|ISSUER|ALTNAME/;

/** Anything thrown that is not an APNs answer: timeouts, refused or reset connections, TLS. */
export function resultOfTransportError(error: unknown): SendResult {
  const code = errorCode(error);
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return { kind: 'retry', reason: 'Timeout' };
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { kind: 'retry', reason: 'ConnectTimeout' };
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return { kind: 'retry', reason: SENDER_CLOSED };
    default:
      if (code === undefined) {
        // Not a socket or undici error: most likely a bug here or an apns2 change. Kept for
        // later like a network error, but the sender logs it loudly.
        return { kind: 'retry', reason: `Unexpected: ${describe(error)}` };
      }
      return { kind: 'retry', reason: TLS_TRUST_CODE.test(code) ? `TLS: ${code}` : `Network: ${code}` };
  }
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  // undici wraps socket failures; the cause carries the system or TLS code.
  if (error instanceof Error && error.cause !== undefined && error.cause !== error) {
    return errorCode(error.cause);
  }
  return undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
