/**
 * Reading the live entries of the v2 roots straight from Yjs's item lists (SPEC DOC-10):
 * only array elements (parentSub null) holding ContentAny count, so a root a remote update
 * created as a plain AbstractType reads the same as a Y.Array, and a map entry or any other
 * content in a v2 root is ignored.
 */
import * as Y from 'yjs';
import { type Entry, HEADS_ROOT, isDeviceEntry, isHeadEntry, parseDeviceRoot } from './document.js';
import type { DeviceId } from './ids.js';

/** A top-level type of a document, as doc.share holds it. */
export type RootType = NonNullable<ReturnType<Y.Doc['share']['get']>>;

/** Which v2 root a name is: the heads array, a device's array, or neither (null). */
export type RootKind = { readonly kind: 'heads' } | { readonly kind: 'device'; readonly device: DeviceId };

const HEADS_KIND: RootKind = Object.freeze({ kind: 'heads' });

export function rootKind(name: string): RootKind | null {
  if (name === HEADS_ROOT) return HEADS_KIND;
  const device = parseDeviceRoot(name);
  return device === null ? null : { kind: 'device', device };
}

/** Whether `value` is an entry the derivation counts in a root of this kind. */
export function isCountedEntry(kind: RootKind, value: unknown): value is Entry {
  return kind.kind === 'heads' ? isHeadEntry(value) : isDeviceEntry(value);
}

/** The values of `item` when it is a live array element holding ContentAny; null otherwise. */
export function liveValues(item: Y.Item): readonly unknown[] | null {
  if (item.deleted || item.parentSub !== null || !(item.content instanceof Y.ContentAny)) return null;
  return item.content.arr;
}

/** Calls `f` with every counted live entry of the root `type`. */
export function forEachLiveEntry(kind: RootKind, type: RootType, f: (entry: Entry) => void): void {
  for (let item = type._start; item !== null; item = item.right) {
    const values = liveValues(item);
    if (values === null) continue;
    for (const value of values) if (isCountedEntry(kind, value)) f(value);
  }
}
