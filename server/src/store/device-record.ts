/**
 * How a registration (PUT /v1/accounts/{a}/devices/{d}) changes a device record (SPEC
 * STORE-7); one function, so every store merges alike.
 */
import type { DeviceId } from '@badgesync/shared';
import type { DevicePatch, DeviceRecord } from './store.js';

/** What a device has before any registration set a field. */
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
 * The record after applying `patch` at `now`. Omitted fields keep their value. Any token in
 * the patch, new or the same as before, counts as a registration: it sets tokenRegisteredAt
 * and clears tokenInvalidReason, since a registration newer than a 410 revives the token.
 */
export function mergeDevice(
  device: DeviceId,
  existing: DeviceRecord | null,
  patch: DevicePatch,
  now: number,
): DeviceRecord {
  const registered = patch.apnsToken !== undefined;
  return {
    device,
    apnsToken: registered ? normalizeApnsToken(patch.apnsToken) : (existing?.apnsToken ?? null),
    environment: patch.environment ?? existing?.environment ?? DEVICE_DEFAULTS.environment,
    topic: patch.topic ?? existing?.topic ?? null,
    badges: patch.badges ?? existing?.badges ?? DEVICE_DEFAULTS.badges,
    tokenRegisteredAt: registered ? now : (existing?.tokenRegisteredAt ?? DEVICE_DEFAULTS.tokenRegisteredAt),
    tokenInvalidReason: registered ? null : (existing?.tokenInvalidReason ?? null),
  };
}
