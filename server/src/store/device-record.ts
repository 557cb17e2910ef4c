/**
 * How a registration (PUT /v1/accounts/{a}/devices/{d}) changes the push registration of one
 * device in one account (SPEC STORE-7, STORE-14); one function, so every store merges alike.
 */
import type { AccountId, DeviceId } from '@badgesync/shared';
import type { DevicePatch, Registration, TokenRefusal } from './store.js';

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
  const registered = patch.apnsToken !== undefined;
  return {
    account,
    device,
    apnsToken: registered ? normalizeApnsToken(patch.apnsToken) : (existing?.apnsToken ?? null),
    environment: patch.environment ?? existing?.environment ?? DEVICE_DEFAULTS.environment,
    topic: patch.topic ?? existing?.topic ?? null,
    badges: patch.badges ?? existing?.badges ?? DEVICE_DEFAULTS.badges,
    tokenRegisteredAt: registered ? now : (existing?.tokenRegisteredAt ?? DEVICE_DEFAULTS.tokenRegisteredAt),
    tokenInvalidReason: registered ? null : (existing?.tokenInvalidReason ?? null),
    signedIn: true,
  };
}

/**
 * Whether APNs's refusal of `token` applies to this registration: it carries the token for
 * the environment and topic the push went to, registered no later than the refusal's bound.
 * (A store's SQL says the same; the scheduler asks it of registrations not yet on disk.)
 */
export function refuses(refusal: TokenRefusal, token: string, registration: Registration): boolean {
  return (
    registration.apnsToken === token &&
    registration.tokenRegisteredAt <= refusal.registeredAtOrBefore &&
    registration.environment === refusal.environment &&
    registration.topic === refusal.topic
  );
}

/** Whether APNs may be sent this registration's token: a token not invalidated, badges on. */
export function isPushable(registration: Registration): registration is Registration & { apnsToken: string } {
  return registration.apnsToken !== null && registration.tokenInvalidReason === null && registration.badges;
}
