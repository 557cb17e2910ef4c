import * as Y from 'yjs';
import { type AccountCounts, sortedRecord, unreadOf } from './counts.js';
import { deviceRoot, type Entry, parseEntryKey } from './document.js';
import type { DeviceId, ThreadId } from './ids.js';
import {
  forEachLiveEntry,
  isCountedEntry,
  liveValues,
  type RootKind,
  type RootType,
  rootKind,
} from './live-entries.js';
import type { MarkerView } from './marker-view.js';

/** What changed in one transaction: the threads whose unread or mute changed, and the new badge. */
export interface CountsChange {
  readonly threads: readonly ThreadId[];
  readonly badge: number;
  readonly previousBadge: number;
}

export type CountsListener = (change: CountsChange) => void;

const NO_VALUES: ReadonlyMap<DeviceId, number> = new Map();
const NO_ENTRIES: readonly Entry[] = Object.freeze([]);

/**
 * The live entries of one key in one root, by object: ContentAny keeps the same entry objects
 * when Yjs splits or merges items, so an entry is found again when its item is deleted. An
 * object a writer pushed twice is listed twice. The key is parsed once, when the slot is made.
 */
interface Slot {
  readonly root: RootIndex;
  readonly key: string;
  readonly thread: ThreadId;
  readonly mute: boolean;
  readonly entries: Entry[];
}

interface RootIndex {
  readonly kind: RootKind;
  readonly slots: Map<string, Slot>;
}

/** Per thread, each device's largest live value of one kind (markers or mute stamps). */
type PerDevice = Map<ThreadId, Map<DeviceId, number>>;

/**
 * Follows a document's transactions and keeps every count current (SPEC COUNT-7, COUNT-12):
 * per transaction it reads only the structs the transaction inserted and deleted, keeps the
 * live entries of each (root, key), and recomputes only the keys and threads they touch,
 * never a rescan of the document.
 */
export class CountsTracker implements MarkerView {
  readonly #doc: Y.Doc;
  /** Root type → its name in doc.share; refreshed when an unknown root type shows up. */
  readonly #rootNames = new Map<RootType, string>();
  /** The v2 roots by name, with their live entries by key. */
  readonly #roots = new Map<string, RootIndex>();
  readonly #heads = new Map<ThreadId, number>();
  readonly #markers: PerDevice = new Map();
  readonly #maxMarker = new Map<ThreadId, number>();
  readonly #muteStamps: PerDevice = new Map();
  readonly #muteStamp = new Map<ThreadId, number>();
  readonly #muted = new Set<ThreadId>();
  readonly #unread = new Map<ThreadId, number>();
  readonly #listeners = new Set<CountsListener>();
  /** The mute state each thread's badge share was last computed with. */
  readonly #countedMuted = new Set<ThreadId>();
  #markerKeys = 0;
  #badge = 0;

  constructor(doc: Y.Doc) {
    this.#doc = doc;
    this.#refreshRootNames();
    const touched: Touched = new Set();
    for (const [name, type] of doc.share) {
      const kind = rootKind(name);
      if (kind === null) continue;
      const root = this.#root(name, kind);
      forEachLiveEntry(kind, type, (entry) => this.#add(root, entry, touched));
    }
    const threads = this.#applyTouched(touched);
    // Muted threads too, also those without a head: #recount records the mute state each
    // thread was counted with, and a later unmute is reported only against that record.
    for (const thread of new Set([...threads, ...this.#heads.keys(), ...this.#muted])) this.#recount(thread);
    doc.on('afterTransaction', this.#onTransaction);
  }

  /** Stops following the document. */
  destroy(): void {
    this.#doc.off('afterTransaction', this.#onTransaction);
    this.#listeners.clear();
  }

  /** Calls `listener` after every transaction that changed an unread count or a mute. */
  onChange(listener: CountsListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get badge(): number {
    return this.#badge;
  }

  unread(thread: ThreadId): number {
    return this.#unread.get(thread) ?? 0;
  }

  head(thread: ThreadId): number {
    return this.#heads.get(thread) ?? 0;
  }

  maxMarker(thread: ThreadId): number {
    return this.#maxMarker.get(thread) ?? 0;
  }

  markers(thread: ThreadId): ReadonlyMap<DeviceId, number> {
    return this.#markers.get(thread) ?? NO_VALUES;
  }

  muteStamp(thread: ThreadId): number {
    return this.#muteStamp.get(thread) ?? 0;
  }

  muteStamps(thread: ThreadId): ReadonlyMap<DeviceId, number> {
    return this.#muteStamps.get(thread) ?? NO_VALUES;
  }

  isMuted(thread: ThreadId): boolean {
    return this.#muted.has(thread);
  }

  /** How many threads have a head (the thread budget, SPEC BUDGET-3). */
  get threadCount(): number {
    return this.#heads.size;
  }

  /** How many (thread, device) pairs have a live marker, over all device arrays (BUDGET-3). */
  get markerKeyCount(): number {
    return this.#markerKeys;
  }

  /** How many threads have a live mute entry in any device array (BUDGET-3). */
  get muteThreadCount(): number {
    return this.#muteStamps.size;
  }

  threadsWithHead(): Iterable<ThreadId> {
    return this.#heads.keys();
  }

  liveEntries(device: DeviceId, key: string): readonly Entry[] {
    const slot = this.#roots.get(deviceRoot(device))?.slots.get(key);
    return slot === undefined ? NO_ENTRIES : [...slot.entries];
  }

  /**
   * The counts of `threads` only (SPEC STORE-15): the badge, their unread (those with a head)
   * and which of them are muted. O(threads asked), whatever the size of the account.
   */
  countsOf(threads: Iterable<ThreadId>): AccountCounts {
    const unread: Array<[ThreadId, number]> = [];
    const muted: ThreadId[] = [];
    for (const thread of threads) {
      const value = this.#unread.get(thread);
      if (value !== undefined) unread.push([thread, value]);
      if (this.#muted.has(thread)) muted.push(thread);
    }
    return { badge: this.#badge, threads: sortedRecord(unread), muted: muted.sort() };
  }

  /** The same answer as deriveCounts(doc), from the maintained state. */
  counts(): AccountCounts {
    return { badge: this.#badge, threads: sortedRecord(this.#unread), muted: [...this.#muted].sort() };
  }

  readonly #onTransaction = (tr: Y.Transaction): void => {
    const touched: Touched = new Set();
    let refreshed = false;
    const rootOf = (item: Y.Item): RootIndex | null => {
      const parent = item.parent;
      if (!(parent instanceof Y.AbstractType) || parent._item !== null) return null;
      let name = this.#rootNames.get(parent);
      if (name === undefined && !refreshed) {
        // A root this tracker has not met: at most one refresh per transaction.
        refreshed = true;
        this.#refreshRootNames();
        name = this.#rootNames.get(parent);
      }
      if (name === undefined) return null;
      const kind = rootKind(name);
      return kind === null ? null : this.#root(name, kind);
    };
    // Inserted: the structs between the state before and after, per client. Those the same
    // transaction deleted are not live and are skipped.
    const clients = this.#doc.store.clients;
    for (const [client, after] of tr.afterState) {
      const before = tr.beforeState.get(client) ?? 0;
      if (after === before) continue;
      const structs = clients.get(client);
      if (structs === undefined) continue;
      for (let i = Y.findIndexSS(structs, before); i < structs.length; i++) {
        const struct = structs[i];
        if (!(struct instanceof Y.Item)) continue;
        const values = liveValues(struct);
        if (values === null) continue;
        const root = rootOf(struct);
        if (root === null) continue;
        for (const value of values) if (isCountedEntry(root.kind, value)) this.#add(root, value, touched);
      }
    }
    // Deleted: Yjs has not garbage-collected their content yet, so the entries are still there.
    Y.iterateDeletedStructs(tr, tr.deleteSet, (struct) => {
      if (!(struct instanceof Y.Item) || struct.parentSub !== null || !(struct.content instanceof Y.ContentAny)) return;
      const root = rootOf(struct);
      if (root === null) return;
      for (const value of struct.content.arr) if (isCountedEntry(root.kind, value)) this.#remove(root, value, touched);
    });
    if (touched.size === 0) return;
    const threads = this.#applyTouched(touched);
    const previousBadge = this.#badge;
    const changed: ThreadId[] = [];
    for (const thread of threads) if (this.#recount(thread)) changed.push(thread);
    if (changed.length === 0 || this.#listeners.size === 0) return;
    const change: CountsChange = { threads: changed, badge: this.#badge, previousBadge };
    for (const listener of this.#listeners) listener(change);
  };

  #refreshRootNames(): void {
    this.#rootNames.clear();
    for (const [name, type] of this.#doc.share) this.#rootNames.set(type, name);
  }

  #root(name: string, kind: RootKind): RootIndex {
    let root = this.#roots.get(name);
    if (root === undefined) {
      root = { kind, slots: new Map() };
      this.#roots.set(name, root);
    }
    return root;
  }

  #add(root: RootIndex, entry: Entry, touched: Touched): void {
    let slot = root.slots.get(entry.key) ?? null;
    if (slot === null) {
      slot = makeSlot(root, entry.key);
      if (slot === null) return;
      root.slots.set(entry.key, slot);
    }
    slot.entries.push(entry);
    touched.add(slot);
  }

  #remove(root: RootIndex, entry: Entry, touched: Touched): void {
    const slot = root.slots.get(entry.key);
    const at = slot === undefined ? -1 : slot.entries.indexOf(entry);
    if (slot === undefined || at < 0) return;
    slot.entries[at] = slot.entries[slot.entries.length - 1] as Entry;
    slot.entries.pop();
    if (slot.entries.length === 0) root.slots.delete(entry.key);
    touched.add(slot);
  }

  /** Re-derives every touched slot from its live entries; answers the threads touched. */
  #applyTouched(touched: Touched): Set<ThreadId> {
    const threads = new Set<ThreadId>();
    const markerThreads = new Set<ThreadId>();
    const muteThreads = new Set<ThreadId>();
    for (const slot of touched) {
      const max = largest(slot.entries);
      const { thread, root } = slot;
      threads.add(thread);
      if (root.kind.kind === 'heads') {
        setOrDelete(this.#heads, thread, max);
      } else if (slot.mute) {
        setPerDevice(this.#muteStamps, thread, root.kind.device, max);
        muteThreads.add(thread);
      } else {
        const had = this.#markers.get(thread)?.has(root.kind.device) === true;
        setPerDevice(this.#markers, thread, root.kind.device, max);
        this.#markerKeys += (max === undefined ? 0 : 1) - (had ? 1 : 0);
        markerThreads.add(thread);
      }
    }
    for (const thread of markerThreads) setOrDelete(this.#maxMarker, thread, largestOf(this.#markers.get(thread)));
    for (const thread of muteThreads) {
      const stamp = largestOf(this.#muteStamps.get(thread));
      setOrDelete(this.#muteStamp, thread, stamp);
      if (stamp !== undefined && stamp % 2 === 1) this.#muted.add(thread);
      else this.#muted.delete(thread);
    }
    return threads;
  }

  /** Recomputes one thread's unread and its share of the badge; true when anything changed. */
  #recount(thread: ThreadId): boolean {
    const head = this.#heads.get(thread);
    const before = this.#unread.get(thread);
    const wasCounted = before !== undefined && !this.#countedMuted.has(thread) ? before : 0;
    const muted = this.#muted.has(thread);
    if (head === undefined) {
      this.#unread.delete(thread);
    } else {
      this.#unread.set(thread, unreadOf(head, this.maxMarker(thread)));
    }
    const after = this.#unread.get(thread);
    const nowCounted = after !== undefined && !muted ? after : 0;
    const mutedChanged = muted !== this.#countedMuted.has(thread);
    if (muted) this.#countedMuted.add(thread);
    else this.#countedMuted.delete(thread);
    this.#badge += nowCounted - wasCounted;
    return before !== after || mutedChanged;
  }
}

/** The slots a transaction touched. */
type Touched = Set<Slot>;

/** A slot for `key` in `root`; null when the key is not one the root's entries may have. */
function makeSlot(root: RootIndex, key: string): Slot | null {
  if (root.kind.kind === 'heads') return { root, key, thread: key as ThreadId, mute: false, entries: [] };
  const parsed = parseEntryKey(key);
  if (parsed === null) return null;
  return { root, key, thread: parsed.thread, mute: parsed.kind === 'mute', entries: [] };
}

function largest(entries: readonly Entry[]): number | undefined {
  let max: number | undefined;
  for (const entry of entries) if (max === undefined || entry.val > max) max = entry.val;
  return max;
}

function largestOf(values: ReadonlyMap<DeviceId, number> | undefined): number | undefined {
  let max: number | undefined;
  if (values !== undefined) for (const value of values.values()) if (max === undefined || value > max) max = value;
  return max;
}

function setOrDelete<K>(map: Map<K, number>, key: K, value: number | undefined): void {
  if (value === undefined) map.delete(key);
  else map.set(key, value);
}

function setPerDevice(map: PerDevice, thread: ThreadId, device: DeviceId, value: number | undefined): void {
  let devices = map.get(thread);
  if (value === undefined) {
    if (devices === undefined) return;
    devices.delete(device);
    if (devices.size === 0) map.delete(thread);
    return;
  }
  if (devices === undefined) {
    devices = new Map();
    map.set(thread, devices);
  }
  devices.set(device, value);
}
