/**
 * FCM HTTP v1 answers → `SendResult` (SPEC PUSH-15). FCM's error body is
 * `{"error":{"code","message","status","details":[{"@type":"…FcmError","errorCode"}, …]}}`;
 * the `errorCode` of the FcmError detail is the precise reason, `status` the gRPC one.
 */
import type { SendResult } from './push-sender.js';

/** The parts of FCM's error body we read. */
interface FcmErrorBody {
  readonly error?: {
    readonly status?: string;
    readonly message?: string;
    readonly details?: ReadonlyArray<{
      readonly '@type'?: string;
      readonly errorCode?: string;
      readonly fieldViolations?: ReadonlyArray<{ readonly field?: string }>;
    }>;
  };
}

/** The reason FCM gave: the FcmError's errorCode, else the status, else the HTTP status. */
export function fcmReason(status: number, body: unknown): string {
  const error = (body as FcmErrorBody | null)?.error;
  const code = error?.details?.find((d) => typeof d.errorCode === 'string')?.errorCode;
  return code ?? error?.status ?? `HTTP ${status}`;
}

/** Whether an INVALID_ARGUMENT is about the registration token (not about our message). */
function aboutToken(body: unknown): boolean {
  const error = (body as FcmErrorBody | null)?.error;
  const violations = error?.details?.flatMap((d) => d.fieldViolations ?? []) ?? [];
  if (violations.some((v) => v.field === 'message.token')) return true;
  return /registration token/i.test(error?.message ?? '');
}

/** The longest Retry-After honoured: an hour (see retryAfterMs). */
const RETRY_AFTER_CAP_MS = 60 * 60_000;

/**
 * Retry-After in ms (seconds or an HTTP date), or undefined. Capped at an hour: a header
 * asking for more is wrong, and the outbox keeps the newest badge meanwhile anyway.
 */
export function retryAfterMs(header: string | null, now: number = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(RETRY_AFTER_CAP_MS, Math.max(0, Math.round(ms)));
}

/**
 * What an answer means. 401 is not here: the sender renews its access token and sends once
 * more before it counts (`provider-token` if FCM refuses the new token too).
 */
export function fcmResult(status: number, body: unknown, retryAfter: string | null): SendResult {
  if (status >= 200 && status < 300) return { kind: 'sent' };
  const reason = fcmReason(status, body);
  if (status === 404 || reason === 'UNREGISTERED' || reason === 'NOT_FOUND') {
    return { kind: 'invalid-token', reason: 'UNREGISTERED' };
  }
  // The token belongs to another Firebase project: it will never take our pushes.
  if (reason === 'SENDER_ID_MISMATCH') return { kind: 'invalid-token', reason };
  if (status === 400 && reason === 'INVALID_ARGUMENT' && aboutToken(body)) {
    return { kind: 'invalid-token', reason: 'INVALID_ARGUMENT' };
  }
  if (status === 429 || status >= 500) {
    const after = retryAfterMs(retryAfter);
    return after === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs: after };
  }
  // The service account may not send for the project, or FCM refused its APNs/web credentials.
  if (status === 401 || status === 403) return { kind: 'provider-token', reason };
  return { kind: 'failed', reason };
}
