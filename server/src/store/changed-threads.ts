import { type AccountCounts, sortedRecord } from '@badgesync/shared';

/**
 * [STORE-15] `stored` with only the threads in `changed` taken from `counts` (their unread
 * count, or their absence, and their mute), and `counts`'s badge: a partial counts entry as
 * every store applies it. `stored` null is an account with no counts yet.
 */
export function withChangedThreads(
  stored: AccountCounts | null,
  counts: AccountCounts,
  changed: readonly string[],
): AccountCounts {
  const threads = new Map(Object.entries(stored?.threads ?? {}));
  const muted = new Set(stored?.muted ?? []);
  const nowMuted = new Set(counts.muted);
  for (const thread of changed) {
    const unread = Object.hasOwn(counts.threads, thread) ? counts.threads[thread] : undefined;
    if (unread === undefined) threads.delete(thread);
    else threads.set(thread, unread);
    if (nowMuted.has(thread)) muted.add(thread);
    else muted.delete(thread);
  }
  return { badge: counts.badge, threads: sortedRecord(threads), muted: [...muted].sort() };
}
