/**
 * Writes Yjs V1 updates and state vectors byte by byte with numbers no encoder writes:
 * 2^53 and above, and the varints lib0's reader turns into Infinity and NaN. forge.ts goes
 * through Yjs's encoder, which cannot write those (it loops forever on Infinity and writes
 * NaN as 0). Same layout as forge.ts (readClientsStructRefs and readDeleteSet in Yjs).
 */
import * as encoding from 'lib0/encoding';

/** A number as the varint reader will return it: a non-negative integer, NaN or Infinity. */
export type Num = number;

/**
 * 147 continuation bytes carry lib0's multiplier past 2^1023 to Infinity while the value
 * stays 0 (its range check runs only between bytes): a last byte of 1 then reads as
 * 1 × Infinity, one of 0 as 0 × Infinity = NaN.
 */
const OVERFLOW_PREFIX: readonly number[] = new Array(147).fill(0x80);

/** The varint bytes lib0's readVarUint reads back as `n` (NaN and Infinity as overlong forms). */
export function varUint(n: Num): number[] {
  if (n === Number.POSITIVE_INFINITY) return [...OVERFLOW_PREFIX, 0x01];
  if (Number.isNaN(n)) return [...OVERFLOW_PREFIX, 0x00];
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`varUint ${n}`);
  const out: number[] = [];
  let rest = n;
  while (rest > 0x7f) {
    out.push(0x80 | (rest % 128));
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

export interface RawId {
  readonly client: Num;
  readonly clock: Num;
}

export type RawStruct =
  | { readonly kind: 'gc'; readonly len: Num }
  | { readonly kind: 'skip'; readonly len: Num }
  | {
      readonly kind: 'item';
      readonly origin?: RawId;
      readonly rightOrigin?: RawId;
      /** A root name; written only without origins. */
      readonly root?: string;
      /** A map key; written only without origins. */
      readonly key?: string;
      /** One plain value (ContentAny), or a run of deleted content of `deleted` clocks. */
      readonly value?: unknown;
      readonly deleted?: Num;
    };

export interface RawBlock {
  readonly client: Num;
  readonly clock: Num;
  readonly structs: readonly RawStruct[];
  /** Structs the header announces; the real count unless a test says otherwise. */
  readonly count?: Num;
}

export interface RawRange {
  readonly client: Num;
  readonly clock: Num;
  readonly len: Num;
}

function bytesOf(write: (encoder: encoding.Encoder) => void): number[] {
  const encoder = encoding.createEncoder();
  write(encoder);
  return [...encoding.toUint8Array(encoder)];
}

function structBytes(struct: RawStruct): number[] {
  if (struct.kind === 'gc') return [0, ...varUint(struct.len)];
  if (struct.kind === 'skip') return [10, ...varUint(struct.len)];
  const deleted = struct.deleted !== undefined;
  const hasOrigins = struct.origin !== undefined || struct.rightOrigin !== undefined;
  const keyed = !hasOrigins && struct.key !== undefined;
  const info =
    (deleted ? 1 : 8) |
    (struct.origin !== undefined ? 0x80 : 0) |
    (struct.rightOrigin !== undefined ? 0x40 : 0) |
    (keyed ? 0x20 : 0);
  const out = [info];
  for (const id of [struct.origin, struct.rightOrigin]) {
    if (id !== undefined) out.push(...varUint(id.client), ...varUint(id.clock));
  }
  if (!hasOrigins) {
    out.push(1, ...bytesOf((e) => encoding.writeVarString(e, struct.root ?? 'reads')));
    if (keyed) out.push(...bytesOf((e) => encoding.writeVarString(e, struct.key as string)));
  }
  if (deleted) out.push(...varUint(struct.deleted as Num));
  else out.push(1, ...bytesOf((e) => encoding.writeAny(e, struct.value as encoding.AnyEncodable)));
  return out;
}

/** A V1 update of `blocks` (in order) and `ranges` (each under its own client header). */
export function rawUpdate(blocks: readonly RawBlock[], ranges: readonly RawRange[] = []): Uint8Array {
  const out = [...varUint(blocks.length)];
  for (const block of blocks) {
    out.push(...varUint(block.count ?? block.structs.length), ...varUint(block.client), ...varUint(block.clock));
    for (const struct of block.structs) out.push(...structBytes(struct));
  }
  out.push(...varUint(ranges.length));
  for (const range of ranges) out.push(...varUint(range.client), 1, ...varUint(range.clock), ...varUint(range.len));
  return new Uint8Array(out);
}

/** A state vector (what a sync step 1 carries) with any numbers. */
export function rawStateVector(entries: readonly RawId[]): Uint8Array {
  const out = [...varUint(entries.length)];
  for (const { client, clock } of entries) out.push(...varUint(client), ...varUint(clock));
  return new Uint8Array(out);
}
