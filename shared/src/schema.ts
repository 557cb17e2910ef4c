/**
 * The values of the account document (SPEC DOC-5, DOC-7, DOC-14; as in contract v1): the
 * packing of a read marker as `epoch × 2^32 + seq`, and what a head may be. The v2 roots and
 * entries are in document.ts; v1's maps in v1/schema.ts.
 */

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

/** [DOC-14] A marker: an exact non-negative integer with epoch ≤ MAX_EPOCH. */
export function isMarkerValue(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value < (MAX_EPOCH + 1) * EPOCH_FACTOR
  );
}

/** [DOC-7] A head: an exact integer 0 ≤ head ≤ MAX_SEQ. */
export function isHeadValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= MAX_SEQ;
}
