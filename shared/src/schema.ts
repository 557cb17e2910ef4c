/**
 * The account document (SPEC DOC-1..DOC-6): three top-level maps, the `reads` key format,
 * and the packing of a read marker as `epoch × 2^32 + seq`.
 */
import type * as Y from 'yjs';
import { type DeviceId, ID_PATTERN, type ThreadId } from './ids.js';

/** [DOC-1] The only top-level shared types a document may hold. */
export const ROOT = {
  heads: 'heads',
  reads: 'reads',
  mutes: 'mutes',
} as const;
export type RootName = (typeof ROOT)[keyof typeof ROOT];
export const ROOT_NAMES: ReadonlySet<string> = new Set(Object.values(ROOT));

/** [DOC-3] Separator of a reads key; excluded from the ID character set. */
export const READS_KEY_SEPARATOR = '/';

/** 2^32: one epoch step of a marker. seq lives in the low 32 bits. */
export const EPOCH_FACTOR = 2 ** 32;

/**
 * [DOC-5] Largest epoch a marker may carry. `epoch × 2^32 + seq` must stay an exact
 * double (≤ 2^53), so epochs stop below 2^21.
 */
export const MAX_EPOCH = 2 ** 21 - 1;

/** Largest seq (item number) a marker or head may carry: the low 32 bits. */
export const MAX_SEQ = EPOCH_FACTOR - 1;

/**
 * [DOC-5] How far above the largest epoch the server holds for a thread a device's marker
 * may go. Each offline mark-as-unread raises the device's local epoch by one; 16 leaves
 * room for a few of them before the device reconnects, and keeps a forged marker from
 * burning through the epoch space.
 */
export const MAX_EPOCH_LEAD = 16;

export interface AccountMaps {
  readonly heads: Y.Map<number>;
  readonly reads: Y.Map<number>;
  readonly mutes: Y.Map<boolean>;
}

/** The three root maps of an account document. */
export function accountMaps(doc: Y.Doc): AccountMaps {
  return {
    heads: doc.getMap<number>(ROOT.heads),
    reads: doc.getMap<number>(ROOT.reads),
    mutes: doc.getMap<boolean>(ROOT.mutes),
  };
}

export function readsKey(thread: ThreadId, device: DeviceId): string {
  return `${thread}${READS_KEY_SEPARATOR}${device}`;
}

export interface ReadsKey {
  readonly thread: ThreadId;
  readonly device: DeviceId;
}

/** Splits a reads key; null when it is not `validThread/validDevice`. */
export function parseReadsKey(key: string): ReadsKey | null {
  const at = key.indexOf(READS_KEY_SEPARATOR);
  if (at < 0) return null;
  const thread = key.slice(0, at);
  const device = key.slice(at + 1);
  if (!ID_PATTERN.test(thread) || !ID_PATTERN.test(device)) return null;
  return { thread: thread as ThreadId, device: device as DeviceId };
}

export interface Marker {
  readonly epoch: number;
  readonly seq: number;
}

export function packMarker(epoch: number, seq: number): number {
  return epoch * EPOCH_FACTOR + seq;
}

export function unpackMarker(value: number): Marker {
  const epoch = Math.floor(value / EPOCH_FACTOR);
  return { epoch, seq: value - epoch * EPOCH_FACTOR };
}

/** [DOC-4] A value `reads` may hold: an exact non-negative integer with epoch ≤ MAX_EPOCH. */
export function isMarkerValue(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < (MAX_EPOCH + 1) * EPOCH_FACTOR
  );
}

/** [DOC-2] A value `heads` may hold: an exact integer 0 ≤ head ≤ MAX_SEQ. */
export function isHeadValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_SEQ;
}

/** [DOC-6] A value `mutes` may hold. */
export function isMuteValue(value: unknown): value is boolean {
  return typeof value === 'boolean';
}
