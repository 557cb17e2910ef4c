/**
 * Updates a hostile device builds by hand: one array element under each of many fresh Yjs
 * client IDs, all writing one key of a v2 device array (docs/SPEC.md DOC-8). Encoded byte for
 * byte (Yjs V1, as wire.ts encodes frames): building the same with one Y.Doc per client ID and
 * Y.mergeUpdates takes over 30 s for 20,000 IDs, this takes milliseconds.
 */
import { concat, varUint } from './wire.js';

const REF_ANY = 8;
/** Info bit of an item: it has an origin (Yjs's BIT8). */
const HAS_ORIGIN = 0x80;
/** lib0 writeAny tags: an object, a string, an integer within 31 bits, a float64. */
const ANY_OBJECT = 118;
const ANY_STRING = 119;
const ANY_INT = 125;
const ANY_FLOAT64 = 123;
const BITS31 = 0x7fffffff;

const utf8 = new TextEncoder();

function varString(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  return concat(varUint(bytes.length), bytes);
}

/** lib0 writeVarInt: sign and 6 bits in the first byte, then 7 bits a byte. */
function varInt(n: number): number[] {
  let rest = Math.abs(n);
  const out = [(rest > 0x3f ? 0x80 : 0) | (n < 0 ? 0x40 : 0) | (rest & 0x3f)];
  rest = Math.floor(rest / 64);
  while (rest > 0) {
    out.push((rest > 0x7f ? 0x80 : 0) | (rest & 0x7f));
    rest = Math.floor(rest / 128);
  }
  return out;
}

function anyNumber(n: number): Uint8Array | number[] {
  if (Number.isInteger(n) && Math.abs(n) <= BITS31) return [ANY_INT, ...varInt(n)];
  const bytes = new Uint8Array(9);
  bytes[0] = ANY_FLOAT64;
  new DataView(bytes.buffer).setFloat64(1, n);
  return bytes;
}

/** lib0 writeAny of `{ key, val }`. */
function anyEntry(key: string, val: number): Uint8Array {
  return concat(
    [ANY_OBJECT],
    varUint(2),
    varString('key'),
    [ANY_STRING],
    varString(key),
    varString('val'),
    anyNumber(val),
  );
}

export interface EntryWrite {
  readonly client: number;
  /** The clock of the item (the client's next clock on the server; 0 for a fresh client). */
  readonly clock?: number;
  /** The array root, e.g. `v2/device/evil`. */
  readonly root: string;
  readonly key: string;
  readonly val: number;
  /** The element this one is inserted after, or none: inserted at the array's start. */
  readonly origin?: { readonly client: number; readonly clock: number };
}

/** A delete range of the update's delete set. */
export interface DeleteRange {
  readonly client: number;
  readonly clock: number;
  readonly length: number;
}

/** A V1 update with one block per write (client IDs must differ), and the given deletes. */
export function entryWrites(writes: readonly EntryWrite[], deletes: readonly DeleteRange[] = []): Uint8Array {
  const parts: Array<Uint8Array | number[]> = [varUint(writes.length)];
  for (const write of writes) {
    parts.push(varUint(1), varUint(write.client), varUint(write.clock ?? 0));
    if (write.origin === undefined) {
      parts.push([REF_ANY], varUint(1), varString(write.root));
    } else {
      parts.push([REF_ANY | HAS_ORIGIN], varUint(write.origin.client), varUint(write.origin.clock));
    }
    parts.push(varUint(1), anyEntry(write.key, write.val));
  }
  const byClient = new Map<number, DeleteRange[]>();
  for (const range of deletes) byClient.set(range.client, [...(byClient.get(range.client) ?? []), range]);
  parts.push(varUint(byClient.size));
  for (const [client, ranges] of byClient) {
    parts.push(varUint(client), varUint(ranges.length));
    for (const range of ranges) parts.push(varUint(range.clock), varUint(range.length));
  }
  // Not concat(...parts): 20,000 writes are 100,000 parts, beyond a spread call's arguments.
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `count` fresh client IDs from `first` on, each inserting `{ key, val }` at the start of `root`: all concurrent. */
export function concurrentEntries(first: number, count: number, root: string, key: string, val: number): Uint8Array {
  return entryWrites(Array.from({ length: count }, (_, i) => ({ client: first + i, root, key, val })));
}
