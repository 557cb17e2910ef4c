/**
 * The derivation of unread counts from an account document (SPEC COUNT-1..COUNT-6), as a
 * plain full scan. [COUNT-8] The counts are a function of the merged document alone, so
 * replicas that received the same updates derive the same counts. CountsTracker
 * (counts-tracker.ts) maintains the same numbers incrementally; the property tests hold
 * the two equal.
 */
import type * as Y from 'yjs';
import { isThreadId, type ThreadId } from './ids.js';
import { accountMaps, EPOCH_FACTOR, isHeadValue, isMarkerValue, parseReadsKey } from './schema.js';

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

/**
 * Derives every count from scratch by scanning the three maps. [COUNT-1] m(t) is the
 * largest valid marker of the thread; entries that do not match the schema are ignored.
 * [COUNT-9] Markers merge by max: an old marker arriving late lowers nothing.
 */
export function deriveCounts(doc: Y.Doc): AccountCounts {
  const { heads, reads, mutes } = accountMaps(doc);
  const maxMarker = new Map<ThreadId, number>();
  for (const [key, value] of reads) {
    const parsed = parseReadsKey(key);
    if (parsed === null || !isMarkerValue(value)) continue;
    const prev = maxMarker.get(parsed.thread) ?? 0;
    if (value > prev) maxMarker.set(parsed.thread, value);
  }
  const muted: string[] = [];
  for (const [thread, on] of mutes) {
    if (on === true && isThreadId(thread)) muted.push(thread);
  }
  muted.sort();
  const mutedSet = new Set(muted);
  const threads: Array<[string, number]> = [];
  let badge = 0;
  for (const [thread, head] of heads) {
    if (!isThreadId(thread) || !isHeadValue(head)) continue;
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
