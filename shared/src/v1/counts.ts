/**
 * The v1 derivation (retired COUNT-1; v1 mutes are booleans): counts of a v1 document's maps, as a
 * full scan. Used only to check that converting a v1 document keeps its counts (DOC-15).
 */
import type * as Y from 'yjs';
import { type AccountCounts, sortedRecord, unreadOf } from '../counts.js';
import { isThreadId, type ThreadId } from '../ids.js';
import { isHeadValue, isMarkerValue } from '../schema.js';
import { accountMaps, parseReadsKey } from './schema.js';

/** The counts of a v1 document: m(t) is the largest valid `reads` marker of t; mutes are `true`. */
export function deriveV1Counts(doc: Y.Doc): AccountCounts {
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
