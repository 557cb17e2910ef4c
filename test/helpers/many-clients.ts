/**
 * Updates a hostile device builds by hand: one item under each of many fresh Yjs client IDs,
 * all writing a `mutes` key. Encoded byte for byte (Yjs V1, as wire.ts encodes frames):
 * building the same with one Y.Doc per client ID and Y.mergeUpdates takes over 30 s for
 * 20,000 IDs, this takes milliseconds.
 */
import { concat, varUint } from './wire.js';

const REF_ANY = 8;
/** Info bits of an item: it has an origin / a parent key (Yjs's BIT8, BIT6). */
const HAS_ORIGIN = 0x80;
const HAS_KEY = 0x20;
/** lib0 writeAny tags of true and false. */
const ANY_TRUE = 120;
const ANY_FALSE = 121;

const utf8 = new TextEncoder();

function varString(text: string): Uint8Array {
  const bytes = utf8.encode(text);
  return concat(varUint(bytes.length), bytes);
}

export interface MuteWrite {
  readonly client: number;
  /** The clock of the item (the client's next clock on the server; 0 for a fresh client). */
  readonly clock?: number;
  readonly key: string;
  readonly value: boolean;
  /** The entry this write follows (the key's current value), or none: a concurrent first write. */
  readonly origin?: { readonly client: number; readonly clock: number };
}

/** A V1 update with one block per write (client IDs must differ), and no deletes. */
export function muteWrites(writes: readonly MuteWrite[]): Uint8Array {
  const parts: Array<Uint8Array | number[]> = [varUint(writes.length)];
  for (const write of writes) {
    parts.push(varUint(1), varUint(write.client), varUint(write.clock ?? 0));
    if (write.origin === undefined) {
      parts.push([REF_ANY | HAS_KEY], varUint(1), varString('mutes'), varString(write.key));
    } else {
      parts.push([REF_ANY | HAS_ORIGIN], varUint(write.origin.client), varUint(write.origin.clock));
    }
    parts.push(varUint(1), [write.value ? ANY_TRUE : ANY_FALSE]);
  }
  parts.push(varUint(0));
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `count` fresh client IDs from `first` on, each writing `mutes[key] = true` with no previous value. */
export function concurrentMutes(first: number, count: number, key: string): Uint8Array {
  return muteWrites(Array.from({ length: count }, (_, i) => ({ client: first + i, key, value: true })));
}
