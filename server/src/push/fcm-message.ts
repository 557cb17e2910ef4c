/**
 * The FCM HTTP v1 request body of a badge push (SPEC PUSH-15), and the checks made before it
 * leaves the process.
 *
 * A data message, not a notification message: `data.badge` is the phone's whole badge as a
 * string (FCM data values are strings). The Android app's `FirebaseMessagingService`
 * receives it whether the app runs or not, and sets the launcher badge itself (launchers
 * differ: see the README). When the push also carries a visible notification, its
 * `notification_count` is the badge, which launchers that badge from notifications show.
 */
import { checkBadge, type FcmBadgePush, type SendResult } from './push-sender.js';

/**
 * FCM tokens are opaque, about 160 characters of `[A-Za-z0-9_:-]` today; Google says not to
 * assume their length. 4096 bounds garbage, as the registration API does (API-14).
 */
const FCM_TOKEN_PATTERN = /^[A-Za-z0-9_:.-]{1,4096}$/;
/** A collapse key of our own making; 64 bytes like APNs's collapse id keeps it a name, not data. */
export const MAX_COLLAPSE_KEY_BYTES = 64;

/**
 * `NORMAL`, not `HIGH`: a badge-only data message shows nothing, and FCM deprioritises apps
 * whose high-priority messages do not lead to a visible notification; a normal message is
 * delivered when the phone leaves Doze, which is when a badge is next seen anyway.
 */
export const FCM_BADGE_PRIORITY = 'NORMAL';
/**
 * Keep the newest badge at FCM for up to 28 days (FCM's maximum), as APNs's expiry does: a
 * phone switched off for a week still gets the right badge when it comes back.
 */
export const FCM_BADGE_TTL = '2419200s';

/** The checks before anything leaves: a malformed token is what FCM calls INVALID_ARGUMENT. */
export function checkFcmPush(push: FcmBadgePush): SendResult | null {
  if (typeof push.fcmToken !== 'string' || !FCM_TOKEN_PATTERN.test(push.fcmToken)) {
    return { kind: 'invalid-token', reason: 'INVALID_ARGUMENT' };
  }
  const badBadge = checkBadge(push.badge);
  if (badBadge !== null) return badBadge;
  if (
    typeof push.collapseKey !== 'string' ||
    push.collapseKey.length === 0 ||
    Buffer.byteLength(push.collapseKey, 'utf8') > MAX_COLLAPSE_KEY_BYTES
  ) {
    return { kind: 'failed', reason: 'BadCollapseId' };
  }
  return null;
}

/** The `messages:send` body. */
export function fcmMessage(push: FcmBadgePush): { readonly message: Record<string, unknown> } {
  const android: Record<string, unknown> = {
    collapse_key: push.collapseKey,
    priority: FCM_BADGE_PRIORITY,
    ttl: FCM_BADGE_TTL,
  };
  if (push.notification !== undefined) {
    android.notification = {
      title: push.notification.title,
      body: push.notification.body,
      notification_count: push.badge,
    };
  }
  return { message: { token: push.fcmToken, data: { badge: String(push.badge) }, android } };
}
