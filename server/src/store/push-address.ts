/**
 * A push address: where one phone (or browser) is reached, as the registrations, the outbox
 * and the delivered badges key it (SPEC STORE-19). One string per platform and token, so two
 * platforms can never share a key:
 *
 * - APNs: the device token, lower-case hex, bare (what every address was before other
 *   platforms existed, so stored outbox entries and delivered badges keep their meaning);
 * - FCM: `fcm:` + the registration token;
 * - Web Push: `webpush:` + the subscription's endpoint URL.
 *
 * A hex APNs token contains no `:`, so the prefixes cannot be mistaken for one.
 */

export const PushPlatform = { apns: 'apns', fcm: 'fcm', webpush: 'webpush' } as const;
export type PushPlatform = (typeof PushPlatform)[keyof typeof PushPlatform];

export const PUSH_PLATFORMS: readonly PushPlatform[] = [PushPlatform.apns, PushPlatform.fcm, PushPlatform.webpush];

const FCM_PREFIX = 'fcm:';
const WEBPUSH_PREFIX = 'webpush:';

/** The address of `token` (an APNs token, FCM token or Web Push endpoint) on `platform`. */
export function pushAddress(platform: PushPlatform, token: string): string {
  switch (platform) {
    case PushPlatform.apns:
      return token.toLowerCase();
    case PushPlatform.fcm:
      return `${FCM_PREFIX}${token}`;
    case PushPlatform.webpush:
      return `${WEBPUSH_PREFIX}${token}`;
  }
}

/** The platform an address is on. */
export function platformOf(address: string): PushPlatform {
  if (address.startsWith(FCM_PREFIX)) return PushPlatform.fcm;
  if (address.startsWith(WEBPUSH_PREFIX)) return PushPlatform.webpush;
  return PushPlatform.apns;
}

/** The platform's own token of an address: the APNs token, FCM token or Web Push endpoint. */
export function tokenOf(address: string): string {
  switch (platformOf(address)) {
    case PushPlatform.apns:
      return address;
    case PushPlatform.fcm:
      return address.slice(FCM_PREFIX.length);
    case PushPlatform.webpush:
      return address.slice(WEBPUSH_PREFIX.length);
  }
}

/**
 * Enough of an address to tell phones apart in logs, not to push to one: the platform and the
 * first 8 characters of its token (of a Web Push endpoint, the host).
 */
export function shortAddress(address: string): string {
  const platform = platformOf(address);
  const token = tokenOf(address);
  if (platform === PushPlatform.webpush) {
    try {
      return `webpush:${new URL(token).host}/…`;
    } catch {
      return 'webpush:…';
    }
  }
  return `${platform === PushPlatform.apns ? '' : `${platform}:`}${token.slice(0, 8)}…`;
}
