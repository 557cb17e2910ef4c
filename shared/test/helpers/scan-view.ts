/**
 * The v2 derivation as a plain full scan of a document's arrays (SPEC COUNT, DOC-7..): every
 * answer of MarkerView (and the budgets' counts) recomputed from the document on each call.
 * The reference the rules' tests and oracle judge against, independent of CountsTracker.
 */
import * as Y from 'yjs';
import {
  type BudgetView,
  CountsTracker,
  type DeviceId,
  type Entry,
  HEADS_ROOT,
  isDeviceEntry,
  isHeadEntry,
  parseDeviceRoot,
  parseEntryKey,
  type ThreadId,
  unpackMuteStamp,
} from '../../src/index.js';

/** The live values of a root array, in order, without creating the root. */
export function liveValues(doc: Y.Doc, root: string): unknown[] {
  const type = doc.share.get(root) as unknown as { _start: Y.Item | null } | undefined;
  const out: unknown[] = [];
  for (let item = type?._start ?? null; item !== null; item = item.right) {
    if (!item.deleted && item.countable) out.push(...item.content.getContent());
  }
  return out;
}

/** Per device array, per key, the live values (device entries only). */
export function deviceEntries(doc: Y.Doc): Map<DeviceId, Map<string, number[]>> {
  const out = new Map<DeviceId, Map<string, number[]>>();
  for (const root of doc.share.keys()) {
    const device = parseDeviceRoot(root);
    if (device === null) continue;
    const keys = new Map<string, number[]>();
    for (const value of liveValues(doc, root)) {
      if (!isDeviceEntry(value)) continue;
      const list = keys.get(value.key) ?? [];
      list.push(value.val);
      keys.set(value.key, list);
    }
    if (keys.size > 0) out.set(device, keys);
  }
  return out;
}

export class ScanView implements BudgetView {
  constructor(readonly doc: Y.Doc) {}

  head(thread: ThreadId): number {
    let max = 0;
    for (const value of liveValues(this.doc, HEADS_ROOT)) {
      if (isHeadEntry(value) && value.key === thread && value.val > max) max = value.val;
    }
    return max;
  }

  #byDevice(key: string): Map<DeviceId, number> {
    const out = new Map<DeviceId, number>();
    for (const [device, keys] of deviceEntries(this.doc)) {
      const values = keys.get(key);
      if (values !== undefined && values.length > 0) out.set(device, Math.max(...values));
    }
    return out;
  }

  maxMarker(thread: ThreadId): number {
    return Math.max(0, ...this.#byDevice(thread).values());
  }

  markers(thread: ThreadId): ReadonlyMap<DeviceId, number> {
    return this.#byDevice(thread);
  }

  muteStamp(thread: ThreadId): number {
    return Math.max(0, ...this.#byDevice(`m/${thread}`).values());
  }

  muteStamps(thread: ThreadId): ReadonlyMap<DeviceId, number> {
    return this.#byDevice(`m/${thread}`);
  }

  isMuted(thread: ThreadId): boolean {
    return unpackMuteStamp(this.muteStamp(thread)).muted;
  }

  threadsWithHead(): Iterable<ThreadId> {
    const out = new Set<ThreadId>();
    for (const value of liveValues(this.doc, HEADS_ROOT)) if (isHeadEntry(value)) out.add(value.key as ThreadId);
    return out;
  }

  liveEntries(device: DeviceId, key: string): readonly Entry[] {
    return (deviceEntries(this.doc).get(device)?.get(key) ?? []).map((val) => ({ key, val }));
  }

  get markerKeyCount(): number {
    let count = 0;
    for (const keys of deviceEntries(this.doc).values()) {
      for (const key of keys.keys()) if (parseEntryKey(key)?.kind === 'marker') count++;
    }
    return count;
  }

  get muteThreadCount(): number {
    const threads = new Set<string>();
    for (const keys of deviceEntries(this.doc).values()) {
      for (const key of keys.keys()) if (parseEntryKey(key)?.kind === 'mute') threads.add(key);
    }
    return threads.size;
  }
}

/** The view the test peers read: what the server and SDK hold of a document. */
export type View = CountsTracker;

/** The view of `doc` the test peers use: the incremental tracker the server and SDK run. */
export function makeView(doc: Y.Doc): View {
  return new CountsTracker(doc);
}
