import { PushPlatform, platformOf, tokenOf } from '../store/push-address.js';
import type { Registration } from '../store/store.js';
import type { AnyBadgePush } from './push-sender.js';

/**
 * The collapse id (APNs), collapse key (FCM) and Topic (Web Push) of every badge push: the
 * push service and the device keep only the newest badge.
 */
const COLLAPSE_KEY = 'badge';

/**
 * [PUSH-14] The push for the address's platform, addressed as its newest registration
 * (`target`) says; `defaultTopic` for an APNs registration that named none.
 */
export function badgePush(
  target: Registration,
  address: string,
  badge: number,
  defaultTopic: string | null,
): AnyBadgePush {
  const { device } = target;
  switch (platformOf(address)) {
    case PushPlatform.fcm:
      return { platform: 'fcm', device, fcmToken: tokenOf(address), badge, collapseKey: COLLAPSE_KEY };
    case PushPlatform.webpush:
      return {
        platform: 'webpush',
        device,
        subscription: {
          endpoint: tokenOf(address),
          // A webpush address is only ever stored with its keys (STORE-19); empty keys would
          // fail the sender's own checks rather than reach a push service.
          keys: target.webpushKeys ?? { p256dh: '', auth: '' },
        },
        badge,
        collapseId: COLLAPSE_KEY,
      };
    case PushPlatform.apns:
      return {
        device,
        apnsToken: address,
        environment: target.environment,
        topic: target.topic ?? defaultTopic ?? '',
        badge,
        collapseId: COLLAPSE_KEY,
      };
  }
}
