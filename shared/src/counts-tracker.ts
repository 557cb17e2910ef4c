import type * as Y from 'yjs';
import { type AccountCounts, sortedRecord, unreadOf } from './counts.js';
import { type DeviceId, isThreadId, type ThreadId } from './ids.js';
import type { MarkerView } from './marker-view.js';
import { type AccountMaps, accountMaps, isHeadValue, isMarkerValue, parseReadsKey } from './schema.js';

/** What changed in one transaction: the threads whose unread or mute changed, and the new badge. */
export interface CountsChange {
  readonly threads: readonly ThreadId[];
  readonly badge: number;
  readonly previousBadge: number;
}

export type CountsListener = (change: CountsChange) => void;

const NO_MARKERS: ReadonlyMap<DeviceId, number> = new Map();

/**
 * Follows a document's transactions and keeps every count current, touching only the
 * threads a transaction changed (SPEC COUNT-7): O(devices of a touched thread) per
 * update, never a rescan of the document.
 */
export class CountsTracker implements MarkerView {
  readonly #maps: AccountMaps;
  readonly #doc: Y.Doc;
  readonly #heads = new Map<ThreadId, number>();
  readonly #markers = new Map<ThreadId, Map<DeviceId, number>>();
  readonly #maxMarker = new Map<ThreadId, number>();
  readonly #muted = new Set<ThreadId>();
  readonly #unread = new Map<ThreadId, number>();
  readonly #listeners = new Set<CountsListener>();
  #badge = 0;

  constructor(doc: Y.Doc) {
    this.#doc = doc;
    this.#maps = accountMaps(doc);
    for (const key of this.#maps.heads.keys()) this.#syncHead(key);
    for (const key of this.#maps.reads.keys()) this.#syncRead(key);
    for (const key of this.#maps.mutes.keys()) this.#syncMute(key);
    // Muted threads too, also those without a head: #recount records the mute state each
    // thread was counted with, and a later unmute is reported only against that record.
    for (const thread of new Set([...this.#heads.keys(), ...this.#muted])) this.#recount(thread);
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
    return this.#markers.get(thread) ?? NO_MARKERS;
  }

  isMuted(thread: ThreadId): boolean {
    return this.#muted.has(thread);
  }

  /** How many threads have a head (the thread budget, SPEC BUDGET-3). */
  get threadCount(): number {
    return this.#heads.size;
  }

  threadsWithHead(): Iterable<ThreadId> {
    return this.#heads.keys();
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
    const touched = new Set<ThreadId>();
    const heads: unknown = this.#maps.heads;
    const reads: unknown = this.#maps.reads;
    const mutes: unknown = this.#maps.mutes;
    for (const [type, keys] of tr.changed) {
      if (type === heads) {
        for (const key of keys) if (key !== null && this.#syncHead(key)) touched.add(key as ThreadId);
      } else if (type === reads) {
        for (const key of keys) {
          const thread = key === null ? null : this.#syncRead(key);
          if (thread !== null) touched.add(thread);
        }
      } else if (type === mutes) {
        for (const key of keys) if (key !== null && this.#syncMute(key)) touched.add(key as ThreadId);
      }
    }
    if (touched.size === 0) return;
    const previousBadge = this.#badge;
    const changed: ThreadId[] = [];
    for (const thread of touched) if (this.#recount(thread)) changed.push(thread);
    if (changed.length === 0 || this.#listeners.size === 0) return;
    const change: CountsChange = { threads: changed, badge: this.#badge, previousBadge };
    for (const listener of this.#listeners) listener(change);
  };

  #syncHead(key: string): boolean {
    if (!isThreadId(key)) return false;
    const value = this.#maps.heads.get(key);
    if (isHeadValue(value)) this.#heads.set(key, value);
    else this.#heads.delete(key);
    return true;
  }

  #syncMute(key: string): boolean {
    if (!isThreadId(key)) return false;
    if (this.#maps.mutes.get(key) === true) this.#muted.add(key);
    else this.#muted.delete(key);
    return true;
  }

  /** Re-reads one reads key; returns its thread, or null when the key is not a reads key. */
  #syncRead(key: string): ThreadId | null {
    const parsed = parseReadsKey(key);
    if (parsed === null) return null;
    const { thread, device } = parsed;
    const value = this.#maps.reads.get(key);
    let devices = this.#markers.get(thread);
    if (isMarkerValue(value)) {
      if (devices === undefined) {
        devices = new Map();
        this.#markers.set(thread, devices);
      }
      devices.set(device, value);
    } else if (devices !== undefined) {
      devices.delete(device);
      if (devices.size === 0) this.#markers.delete(thread);
    }
    let max = 0;
    for (const marker of this.#markers.get(thread)?.values() ?? []) if (marker > max) max = marker;
    if (max === 0) this.#maxMarker.delete(thread);
    else this.#maxMarker.set(thread, max);
    return thread;
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

  /** The mute state each thread's badge share was last computed with. */
  readonly #countedMuted = new Set<ThreadId>();
}
