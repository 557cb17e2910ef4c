/**
 * The seam between push policy (who gets which badge when) and delivery. The policy hands a
 * `PushSender` one absolute badge for one device and gets back what to do with the push:
 * forget it, drop the token, try again later, or keep it pending because the key is wrong.
 * One sender per platform (`PushSender<BadgePush>` for APNs, `PushSender<FcmBadgePush>`,
 * `PushSender<WebPushBadgePush>`), behind `PlatformSenders`, which picks by `platform`.
 * Implementations: `ApnsSender` (APNs over HTTP/2), `FcmSender` (FCM HTTP v1), `LogSender`
 * and `UnconfiguredSender` (no credentials for the platform: logged, counted as sent).
 */
import type { DeviceId } from '@badgesync/shared';
import type { WebPushKeys } from '../store/store.js';

export const ApnsEnvironment = { production: 'production', sandbox: 'sandbox' } as const;
export type ApnsEnvironment = (typeof ApnsEnvironment)[keyof typeof ApnsEnvironment];

/** One badge-only APNs push: the phone's whole badge, never a delta (APNs may drop or reorder). */
export interface BadgePush {
  /** Absent on APNs pushes made before other platforms existed: APNs. */
  readonly platform?: 'apns';
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

/** One badge push to an Android app through FCM HTTP v1: a data message `{"badge": "<n>"}`. */
export interface FcmBadgePush {
  readonly platform: 'fcm';
  /** A device whose registration carries the token (the newest): for logs only. */
  readonly device: DeviceId;
  /** The FCM registration token. */
  readonly fcmToken: string;
  readonly badge: number;
  /** `android.collapse_key`: FCM keeps only the newest message with this key for an offline device. */
  readonly collapseKey: string;
  /**
   * A visible notification to show with the badge (the scheduler sends none: badges only);
   * when present, its `notification_count` is the badge.
   */
  readonly notification?: { readonly title: string; readonly body: string };
}

/** A browser's push subscription, as `PushSubscription.toJSON()` gives it. */
export interface WebPushSubscription {
  /** The push service's https URL for this browser. */
  readonly endpoint: string;
  readonly keys: WebPushKeys;
}

/** One badge push to a web app's service worker through its push service: `{"badge": n}`, aes128gcm. */
export interface WebPushBadgePush {
  readonly platform: 'webpush';
  /** A device whose registration carries the subscription (the newest): for logs only. */
  readonly device: DeviceId;
  readonly subscription: WebPushSubscription;
  readonly badge: number;
  /**
   * What the push replaces at the push service (the sender makes it the `Topic` header): a
   * browser that was offline receives only the newest badge.
   */
  readonly collapseId: string;
}

/** A badge push on any platform: what the scheduler hands `PlatformSenders`. */
export type AnyBadgePush = BadgePush | FcmBadgePush | WebPushBadgePush;

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

/** A sender for one platform's pushes (`P`); APNs's by default. */
export interface PushSender<P = BadgePush> {
  /** Never rejects: every outcome, network failures included, is a `SendResult`. */
  send(push: P): Promise<SendResult>;
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
  const badBadge = checkBadge(push.badge);
  if (badBadge !== null) return badBadge;
  if (
    typeof push.collapseId !== 'string' ||
    push.collapseId.length === 0 ||
    Buffer.byteLength(push.collapseId, 'utf8') > MAX_COLLAPSE_ID_BYTES
  ) {
    return { kind: 'failed', reason: 'BadCollapseId' };
  }
  return null;
}

/** A badge every platform can show: a whole number from 0 to MAX_BADGE; else `failed`/BadBadge. */
export function checkBadge(badge: number): SendResult | null {
  if (!Number.isSafeInteger(badge) || badge < 0 || badge > MAX_BADGE) return { kind: 'failed', reason: 'BadBadge' };
  return null;
}
