/**
 * IDs of the public contract (SPEC ID-1..ID-3). Account, thread and device IDs share one
 * character set that excludes `/`, the separator of `reads` keys, so a key splits in
 * exactly one way.
 */

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type AccountId = Brand<string, 'AccountId'>;
export type ThreadId = Brand<string, 'ThreadId'>;
export type DeviceId = Brand<string, 'DeviceId'>;

/**
 * [ID-1] The one pattern every account, thread and device ID matches. [ID-3] Its character
 * set excludes `/`, the separator of reads keys.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,128}$/;

/** [ID-2] The device name the server writes its own reads under (API reads). No device may use it. */
export const SERVER_DEVICE = '@server' as DeviceId;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export function isAccountId(value: unknown): value is AccountId {
  return isValidId(value);
}

export function isThreadId(value: unknown): value is ThreadId {
  return isValidId(value);
}

/** A device ID a client may hold: valid and not the reserved server device. */
export function isDeviceId(value: unknown): value is DeviceId {
  return isValidId(value) && value !== SERVER_DEVICE;
}

function parseWith<T extends string>(guard: (v: unknown) => v is T, what: string) {
  return (value: unknown): T => {
    if (!guard(value)) {
      throw new TypeError(`invalid ${what} ID: ${JSON.stringify(value)?.slice(0, 140)}`);
    }
    return value;
  };
}

export const parseAccountId = parseWith(isAccountId, 'account');
export const parseThreadId = parseWith(isThreadId, 'thread');
export const parseDeviceId = parseWith(isDeviceId, 'device');
