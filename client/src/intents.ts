/**
 * What the app asked for, kept as intents until they can be applied safely, and applied
 * only through shared's planners (SPEC SDK-2): a marker value never comes from anywhere
 * else, so it never lowers a marker and always passes the server's write rules.
 */
import {
  type AccountMaps,
  type DeviceId,
  isThreadId,
  type MarkerView,
  planAllRead,
  planRead,
  planUnread,
  readsKey,
  type ThreadId,
} from '@badgesync/shared';

/** One thing the app asked for. Plain JSON, so it can be stored with the replica. */
export type Intent =
  | { readonly kind: 'read'; readonly thread: ThreadId; readonly seq: number }
  | { readonly kind: 'unread'; readonly thread: ThreadId; readonly fromSeq: number }
  | { readonly kind: 'all-read' }
  | { readonly kind: 'mute'; readonly thread: ThreadId; readonly on: boolean };

/**
 * Applies one intent to the account's maps (call inside a transaction). Returns whether
 * it wrote anything. Throws RangeError when planUnread refuses (too many offline
 * mark-as-unreads of one thread).
 */
export function applyIntent(view: MarkerView, maps: AccountMaps, device: DeviceId, intent: Intent): boolean {
  switch (intent.kind) {
    case 'read': {
      const value = planRead(view, intent.thread, device, intent.seq);
      if (value === null) return false;
      maps.reads.set(readsKey(intent.thread, device), value);
      return true;
    }
    case 'unread': {
      const value = planUnread(view, intent.thread, device, intent.fromSeq);
      if (value === null) return false;
      maps.reads.set(readsKey(intent.thread, device), value);
      return true;
    }
    case 'all-read': {
      const writes = planAllRead(view, device);
      for (const write of writes) maps.reads.set(write.key, write.value);
      return writes.length > 0;
    }
    case 'mute': {
      // A plain value in the top-level map, never a nested type (DOC-1).
      if (maps.mutes.get(intent.thread) === intent.on) return false;
      maps.mutes.set(intent.thread, intent.on);
      return true;
    }
  }
}

/** An intent read back from storage, or null when it is not one. */
export function parseIntent(value: unknown): Intent | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  switch (v.kind) {
    case 'read':
      return isThreadId(v.thread) && isCount(v.seq, 0) ? { kind: 'read', thread: v.thread, seq: v.seq } : null;
    case 'unread':
      return isThreadId(v.thread) && isCount(v.fromSeq, 1)
        ? { kind: 'unread', thread: v.thread, fromSeq: v.fromSeq }
        : null;
    case 'all-read':
      return { kind: 'all-read' };
    case 'mute':
      return isThreadId(v.thread) && typeof v.on === 'boolean' ? { kind: 'mute', thread: v.thread, on: v.on } : null;
    default:
      return null;
  }
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}
