/**
 * The derivation of unread counts from an account document (SPEC COUNT-2..COUNT-6,
 * COUNT-10, COUNT-11), as a plain full scan of the v2 roots. [COUNT-8] The counts are a
 * function of the merged document alone, so replicas that received the same updates derive
 * the same counts. CountsTracker (counts-tracker.ts) maintains the same numbers
 * incrementally; the property tests hold the two equal.
 */
import type * as Y from 'yjs';
import { parseEntryKey } from './document.js';
import type { ThreadId } from './ids.js';
import { forEachLiveEntry, rootKind } from './live-entries.js';
import { EPOCH_FACTOR } from './schema.js';

/** The counts of one account, as `GET /v1/accounts/{a}/badge` answers them. */
export interface AccountCounts {
  /** [COUNT-4] Σ unread over threads that are not muted. */
  readonly badge: number;
  /** [COUNT-3] Unread per thread, for every thread with a head (muted ones included). */
  readonly threads: Readonly<Record<string, number>>;
  /** [COUNT-5] Muted threads, sorted; listed, not summed. */
  readonly muted: readonly string[];
}

export const EMPTY_COUNTS: AccountCounts = Object.freeze({
  badge: 0,
  threads: Object.freeze({}),
  muted: Object.freeze([]) as readonly string[],
});

/** [COUNT-2] read(t) = m(t) mod 2^32; unread(t) = max(0, head − read). */
export function unreadOf(head: number, maxMarker: number): number {
  return Math.max(0, head - (maxMarker % EPOCH_FACTOR));
}

function raise(map: Map<ThreadId, number>, thread: ThreadId, value: number): void {
  const prev = map.get(thread);
  if (prev === undefined || value > prev) map.set(thread, value);
}

/**
 * Derives every count from scratch by scanning every v2 root. [COUNT-10] m(t) is the largest
 * live marker entry of t over all device arrays (each device's marker is its largest live
 * entry of t, so this is the max over devices); head(t) the largest live `v2/heads` entry.
 * [COUNT-11] t is muted iff S(t), its largest live mute stamp over all device arrays, is odd.
 * Entries that are not well formed, and anything in another root, are ignored.
 * [COUNT-9] Markers merge by max: an old marker arriving late lowers nothing.
 */
export function deriveCounts(doc: Y.Doc): AccountCounts {
  const heads = new Map<ThreadId, number>();
  const maxMarker = new Map<ThreadId, number>();
  const muteStamp = new Map<ThreadId, number>();
  for (const [name, type] of doc.share) {
    const kind = rootKind(name);
    if (kind === null) continue;
    forEachLiveEntry(kind, type, (entry) => {
      if (kind.kind === 'heads') return raise(heads, entry.key as ThreadId, entry.val);
      const key = parseEntryKey(entry.key);
      if (key === null) return;
      raise(key.kind === 'marker' ? maxMarker : muteStamp, key.thread, entry.val);
    });
  }
  const muted: string[] = [];
  for (const [thread, stamp] of muteStamp) if (stamp % 2 === 1) muted.push(thread);
  muted.sort();
  const mutedSet = new Set(muted);
  const threads: Array<[string, number]> = [];
  let badge = 0;
  for (const [thread, head] of heads) {
    const unread = unreadOf(head, maxMarker.get(thread) ?? 0);
    threads.push([thread, unread]);
    if (!mutedSet.has(thread)) badge += unread;
  }
  return { badge, threads: sortedRecord(threads), muted };
}

/**
 * A record with keys in sorted order, so equal counts compare and print alike. Built with
 * Object.fromEntries, which defines own properties: a thread named `__proto__` (a valid ID)
 * is kept, where an assignment would call the prototype setter and lose it.
 */
export function sortedRecord(entries: Iterable<readonly [string, number]>): Record<string, number> {
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** [COUNT-6] A device's badge: the sum of its accounts' badges. */
export function deviceBadge(accountBadges: Iterable<number>): number {
  let total = 0;
  for (const badge of accountBadges) total += badge;
  return total;
}
