/**
 * The seam between push policy (who gets which badge when) and delivery. The policy hands a
 * `PushSender` one absolute badge for one device and gets back what to do with the push:
 * forget it, drop the token, try again later, or keep it pending because the key is wrong.
 * Implementations: `ApnsSender` (APNs over HTTP/2) and `LogSender` (no APNs key configured).
 */
import type { DeviceId } from '@badgesync/shared';

export const ApnsEnvironment = { production: 'production', sandbox: 'sandbox' } as const;
export type ApnsEnvironment = (typeof ApnsEnvironment)[keyof typeof ApnsEnvironment];

/** One badge-only push: the phone's whole badge, never a delta (APNs may drop or reorder). */
export interface BadgePush {
  /** A device whose registration carries the token (the newest): for logs only. */
  readonly device: DeviceId;
  /** The APNs device token, hex. */
  readonly apnsToken: string;
  readonly environment: ApnsEnvironment;
  /** The app's bundle id (`apns-topic`). */
  readonly topic: string;
  readonly badge: number;
  /** `apns-collapse-id`: APNs and the device keep only the newest push with this id. */
  readonly collapseId: string;
}

/** Reasons APNs gives when a token must not be used again (410 and two 400s). */
export const InvalidTokenReason = {
  unregistered: 'Unregistered',
  badDeviceToken: 'BadDeviceToken',
  deviceTokenNotForTopic: 'DeviceTokenNotForTopic',
  expiredToken: 'ExpiredToken',
} as const;
export type InvalidTokenReason = (typeof InvalidTokenReason)[keyof typeof InvalidTokenReason];

/**
 * What became of one push. `reason` is APNs's reason string where APNs gave one, else one of
 * the sender's own (`Timeout`, `ConnectTimeout`, `Network: <code>`, `SenderClosed`, …).
 */
export type SendResult =
  /** APNs accepted it (or, for `LogSender`, it was logged). Record the badge as delivered. */
  | { readonly kind: 'sent' }
  /**
   * Stop using this token. `timestamp` (ms, 410 only): since when APNs knows the token is
   * gone; a registration newer than that revives it.
   */
  | { readonly kind: 'invalid-token'; readonly reason: InvalidTokenReason | (string & {}); readonly timestamp?: number }
  /** 429, 5xx, network errors, timeouts: send again later, with backoff and jitter. */
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  /** The provider key, key id or team id is wrong (403): keep the push pending; the sender has logged loudly. */
  | { readonly kind: 'provider-token'; readonly reason: string }
  /** APNs refused this push for good (other 4xx), or the push itself is malformed: drop it. */
  | { readonly kind: 'failed'; readonly reason: string };

export type SendResultKind = SendResult['kind'];

export interface PushSender {
  /** Never rejects: every outcome, network failures included, is a `SendResult`. */
  send(push: BadgePush): Promise<SendResult>;
  /** Waits for pushes in flight, then closes connections. Later sends answer `retry`/`SenderClosed`. */
  close(): Promise<void>;
}

export type PushLogLevel = 'info' | 'warn' | 'error';
/** A structured log line; `(level, fields, msg) => logger[level](fields, msg)` with pino. */
export type PushLog = (level: PushLogLevel, fields: Readonly<Record<string, unknown>>, message: string) => void;

/** The reason of the `retry` answered by a sender that was closed. */
export const SENDER_CLOSED = 'SenderClosed';

/** APNs refuses a collapse id over 64 bytes (400 BadCollapseId). */
export const MAX_COLLAPSE_ID_BYTES = 64;
/**
 * iOS stores the badge as a signed integer (`NSInteger`, and 32-bit on older watchOS);
 * anything larger is a bug upstream, not a count.
 */
export const MAX_BADGE = 2 ** 31 - 1;
/**
 * Device tokens are hex; Apple says not to assume their length (32 bytes today), so accept
 * up to 200 bytes, a bound only there to keep garbage out of the request path.
 */
const DEVICE_TOKEN_PATTERN = /^(?:[0-9a-fA-F]{2}){1,200}$/;

/**
 * The checks every sender makes before anything leaves the process, so both implementations
 * answer a malformed push alike: a non-hex token is what APNs calls BadDeviceToken; the rest
 * is a bug in the caller and `failed`. Returns null for a well-formed push.
 */
export function checkBadgePush(push: BadgePush): SendResult | null {
  if (typeof push.apnsToken !== 'string' || !DEVICE_TOKEN_PATTERN.test(push.apnsToken)) {
    return { kind: 'invalid-token', reason: InvalidTokenReason.badDeviceToken };
  }
  if (push.environment !== ApnsEnvironment.production && push.environment !== ApnsEnvironment.sandbox) {
    return { kind: 'failed', reason: 'BadEnvironment' };
  }
  if (typeof push.topic !== 'string' || push.topic.length === 0) {
    return { kind: 'failed', reason: 'MissingTopic' };
  }
  if (!Number.isSafeInteger(push.badge) || push.badge < 0 || push.badge > MAX_BADGE) {
    return { kind: 'failed', reason: 'BadBadge' };
  }
  if (
    typeof push.collapseId !== 'string' ||
    push.collapseId.length === 0 ||
    Buffer.byteLength(push.collapseId, 'utf8') > MAX_COLLAPSE_ID_BYTES
  ) {
    return { kind: 'failed', reason: 'BadCollapseId' };
  }
  return null;
}
