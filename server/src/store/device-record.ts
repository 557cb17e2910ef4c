/**
 * How a registration (PUT /v1/accounts/{a}/devices/{d}) changes the push registration of one
 * device in one account (SPEC STORE-7, STORE-14); one function, so every store merges alike.
 */
import type { AccountId, DeviceId } from '@badgesync/shared';
import { PushPlatform, platformOf, pushAddress } from './push-address.js';
import type { DevicePatch, Registration, TokenRefusal, WebPushKeys } from './store.js';

/** What a registration has before any PUT set a field. */
export const DEVICE_DEFAULTS = {
  environment: 'production',
  badges: true,
  /** 0: no token was ever registered. */
  tokenRegisteredAt: 0,
} as const;

/** APNs tokens are hex; kept lower-case so one token always compares equal to itself. */
export function normalizeApnsToken(token: string): string {
  return token.toLowerCase();
}

/**
 * The registration after applying `patch` at `now`; it is signed in. Omitted fields keep
 * their value. Any token in the patch, new or the same as before, counts as a registration:
 * it sets tokenRegisteredAt and clears tokenInvalidReason, since a registration newer than a
 * 410 revives the token.
 */
export function mergeRegistration(
  account: AccountId,
  device: DeviceId,
  existing: Registration | null,
  patch: DevicePatch,
  now: number,
): Registration {
  const patched = patchedAddress(patch);
  const registered = patched !== null;
  const address = registered ? patched.address : (existing?.address ?? null);
  // [STORE-19] Environment and topic are APNs's: an FCM or Web Push address has neither (they
  // stay at their defaults, whatever a body names), so what a push service refuses matches
  // the registrations it judged.
  const apns = address === null || platformOf(address) === PushPlatform.apns;
  return {
    account,
    device,
    address,
    webpushKeys: registered ? patched.keys : (existing?.webpushKeys ?? null),
    environment: apns
      ? (patch.environment ?? existing?.environment ?? DEVICE_DEFAULTS.environment)
      : DEVICE_DEFAULTS.environment,
    topic: apns ? (patch.topic ?? existing?.topic ?? null) : null,
    badges: patch.badges ?? existing?.badges ?? DEVICE_DEFAULTS.badges,
    tokenRegisteredAt: registered ? now : (existing?.tokenRegisteredAt ?? DEVICE_DEFAULTS.tokenRegisteredAt),
    tokenInvalidReason: registered ? null : (existing?.tokenInvalidReason ?? null),
    signedIn: true,
  };
}

/** The push address a patch registers (and a Web Push subscription's keys), or null for none. */
function patchedAddress(patch: DevicePatch): { address: string; keys: WebPushKeys | null } | null {
  if (patch.apnsToken !== undefined) {
    return { address: pushAddress(PushPlatform.apns, normalizeApnsToken(patch.apnsToken)), keys: null };
  }
  if (patch.fcmToken !== undefined) return { address: pushAddress(PushPlatform.fcm, patch.fcmToken), keys: null };
  if (patch.webpush !== undefined) {
    const { endpoint, keys } = patch.webpush;
    return { address: pushAddress(PushPlatform.webpush, endpoint), keys: { p256dh: keys.p256dh, auth: keys.auth } };
  }
  return null;
}

/**
 * Whether a push service's refusal of `address` applies to this registration: it carries it for
 * the environment and topic the push went to, registered no later than the refusal's bound.
 * (A store's SQL says the same; the scheduler asks it of registrations not yet on disk.)
 */
export function refuses(refusal: TokenRefusal, address: string, registration: Registration): boolean {
  return (
    registration.address === address &&
    registration.tokenRegisteredAt <= refusal.registeredAtOrBefore &&
    registration.environment === refusal.environment &&
    registration.topic === refusal.topic
  );
}

/** Whether this registration's address may be pushed: an address not invalidated, badges on. */
export function isPushable(registration: Registration): registration is Registration & { address: string } {
  return registration.address !== null && registration.tokenInvalidReason === null && registration.badges;
}
