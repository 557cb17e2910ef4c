/**
 * The sender of every platform a configuration asks for (SPEC PUSH-14): APNs with a key file
 * (else `LogSender`), FCM with a service account (else logged), Web Push with the VAPID key
 * pair (configured or generated, so always, except for a caller that passes none). A platform
 * without credentials is logged at start, like APNs without a key, and its pushes are logged,
 * not sent.
 */
import { type ApnsSettings, createPushSender } from './create-push-sender.js';
import { checkFcmPush } from './fcm-message.js';
import { PlatformSenders } from './platform-senders.js';
import { checkBadge, type FcmBadgePush, type PushLog, type WebPushBadgePush } from './push-sender.js';
import { UnconfiguredSender } from './unconfigured-sender.js';
import type { VapidKeys } from './webpush-keys.js';
import { WebPushSender } from './webpush-sender.js';
import { webPushHosts } from './webpush-subscription.js';

/** The push settings of the configuration (`Config` has these fields). */
export interface PlatformSettings extends ApnsSettings {
  /** Path to the FCM service-account key (JSON), or null: FCM pushes are logged. */
  readonly fcmServiceAccount: string | null;
  /** FCM's base URL (tests point it at the fake FCM server), or null for Google's. */
  readonly fcmUrl: string | null;
  /** BADGESYNC_WEBPUSH_HOSTS: the push service hosts endpoints may name (null: the browsers'). */
  readonly webpushHosts?: string | null;
}

export async function createPlatformSenders(
  settings: PlatformSettings,
  log: PushLog,
  vapid: VapidKeys | null = null,
): Promise<PlatformSenders> {
  const apns = await createPushSender(settings, log);
  const hosts = webPushHosts(settings.webpushHosts ?? null);
  const webpush = vapid === null ? unconfiguredWebPush(log) : new WebPushSender({ vapid, hosts, log });
  return new PlatformSenders({ apns, fcm: await createFcmSender(settings, log), webpush });
}

async function createFcmSender(settings: PlatformSettings, log: PushLog) {
  if (settings.fcmServiceAccount === null) {
    log('warn', {}, 'no BADGESYNC_FCM_SERVICE_ACCOUNT: FCM badge pushes are logged, not sent');
    return new UnconfiguredSender<FcmBadgePush>({
      log,
      missing: 'no FCM service account configured',
      check: checkFcmPush,
      fields: (push) => ({
        platform: 'fcm',
        device: push.device,
        fcmToken: push.fcmToken,
        badge: push.badge,
        collapseKey: push.collapseKey,
      }),
    });
  }
  const { FcmSender } = await import('./fcm-sender.js');
  return FcmSender.fromKeyFile(settings.fcmServiceAccount, { baseUrl: settings.fcmUrl, log });
}

/** Without VAPID keys (a caller that passes none; `main` always has a pair): logged, checked for a badge. */
function unconfiguredWebPush(log: PushLog) {
  return new UnconfiguredSender<WebPushBadgePush>({
    log,
    missing: 'no Web Push sender configured',
    check: (push) => checkBadge(push.badge),
    fields: (push) => ({ platform: 'webpush', device: push.device, badge: push.badge, collapseId: push.collapseId }),
  });
}
