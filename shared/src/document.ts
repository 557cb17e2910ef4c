/**
 * The account document of contract v2 (SPEC DOC-7..DOC-13): one append-and-delete key–value
 * array per writer, so an account's state stays O(live entries + writer sessions) however
 * often people read (docs/SPEC.md "Why v2").
 *
 * - `v2/heads`: the server's array, entries `{ key: thread, val: head }`.
 * - `v2/device/<deviceId>`: one array per device (and `@server` for the server's API reads),
 *   entries `{ key: thread, val: marker }` and `{ key: "m/" + thread, val: muteStamp }`.
 *
 * Marker values are v1's: `epoch × 2^32 + seq` (schema.ts). A mute stamp is
 * `counter × 2 + (muted ? 1 : 0)`; the largest stamp of a thread over all devices decides.
 */
import { type DeviceId, ID_PATTERN, isThreadId, type ThreadId } from './ids.js';
import { isHeadValue, isMarkerValue } from './schema.js';

/** [DOC-7] The server's heads array. Differs from v1's `heads` map so the two never meet. */
export const HEADS_ROOT = 'v2/heads';

/** [DOC-8] Prefix of a device's array: `v2/device/<deviceId>`. IDs never hold `/`. */
export const DEVICE_ROOT_PREFIX = 'v2/device/';

/** [DOC-9] Prefix of a mute entry's key in a device array: `m/<threadId>`. */
export const MUTE_KEY_PREFIX = 'm/';

/**
 * [DOC-11] How far above the largest mute counter the server holds for a thread a new mute
 * stamp's counter may go: room for a few offline toggles, none for burning the number space
 * (the same bound as markers' epochs, MAX_EPOCH_LEAD).
 */
export const MAX_MUTE_LEAD = 16;

/** Largest mute counter: `counter × 2 + 1` must stay a safe integer. */
export const MAX_MUTE_COUNTER = Math.floor((Number.MAX_SAFE_INTEGER - 1) / 2);

/** [DOC-10] One element of a v2 array. */
export interface Entry {
  readonly key: string;
  readonly val: number;
}

/** The array root of `device`'s entries. */
export function deviceRoot(device: DeviceId): string {
  return `${DEVICE_ROOT_PREFIX}${device}`;
}

/** The device whose array `root` is (`@server` included); null for any other name. */
export function parseDeviceRoot(root: string): DeviceId | null {
  if (!root.startsWith(DEVICE_ROOT_PREFIX)) return null;
  const device = root.slice(DEVICE_ROOT_PREFIX.length);
  return ID_PATTERN.test(device) ? (device as DeviceId) : null;
}

/** Whether `root` is a v2 root: the heads array or a device array. */
export function isV2Root(root: string): boolean {
  return root === HEADS_ROOT || parseDeviceRoot(root) !== null;
}

/** [DOC-12] v1's root names: a replica or update that holds them predates v2. */
export const V1_ROOTS: ReadonlySet<string> = new Set(['heads', 'reads', 'mutes']);

/** The key of a mute entry of `thread`. */
export function muteKey(thread: ThreadId): string {
  return `${MUTE_KEY_PREFIX}${thread}`;
}

export type EntryKey =
  | { readonly kind: 'marker'; readonly thread: ThreadId }
  | { readonly kind: 'mute'; readonly thread: ThreadId };

/** What a device array's key names; null when it is neither a thread ID nor `m/<thread ID>`. */
export function parseEntryKey(key: string): EntryKey | null {
  if (isThreadId(key)) return { kind: 'marker', thread: key };
  if (key.startsWith(MUTE_KEY_PREFIX)) {
    const thread = key.slice(MUTE_KEY_PREFIX.length);
    if (isThreadId(thread)) return { kind: 'mute', thread };
  }
  return null;
}

/**
 * [DOC-10] A well-formed entry: a plain object with exactly the own properties `key` (a
 * string) and `val` (a number). Says nothing of whether the key and value suit the array.
 */
export function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  const keys = Object.keys(value);
  if (keys.length !== 2 || Object.getOwnPropertySymbols(value).length !== 0) return false;
  const { key, val } = value as { key?: unknown; val?: unknown };
  return (
    typeof key === 'string' && typeof val === 'number' && Object.hasOwn(value, 'key') && Object.hasOwn(value, 'val')
  );
}

/** [DOC-7] An entry of `v2/heads`: key a thread ID, val a head. */
export function isHeadEntry(value: unknown): value is Entry {
  return isEntry(value) && isThreadId(value.key) && isHeadValue(value.val);
}

/** An entry of a device array: a marker of a thread, or a mute stamp of `m/<thread>`. */
export function isDeviceEntry(value: unknown): value is Entry {
  if (!isEntry(value)) return false;
  const key = parseEntryKey(value.key);
  if (key === null) return false;
  return key.kind === 'marker' ? isMarkerValue(value.val) : isMuteStamp(value.val);
}

/** [DOC-11] A mute stamp: `counter × 2 + bit`, counter an integer 1 ≤ counter ≤ MAX_MUTE_COUNTER. */
export function isMuteStamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 2;
}

export function packMuteStamp(counter: number, muted: boolean): number {
  return counter * 2 + (muted ? 1 : 0);
}

export interface MuteVote {
  readonly counter: number;
  readonly muted: boolean;
}

export function unpackMuteStamp(stamp: number): MuteVote {
  return { counter: Math.floor(stamp / 2), muted: stamp % 2 === 1 };
}
