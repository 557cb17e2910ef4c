/**
 * What the app asked for, kept as intents until they can be applied safely, and applied
 * only through shared's planners (SPEC SDK-2): a marker value or mute stamp never comes from
 * anywhere else, so it never lowers anything and always passes the server's write rules.
 */
import {
  type DeviceId,
  isMarkerValue,
  isMuteStamp,
  isThreadId,
  type KeyValueArray,
  type MarkerView,
  muteKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  type ThreadId,
  threadEpoch,
  unpackMarker,
  unpackMuteStamp,
} from '@badgesync/shared';

/**
 * One thing the app asked for. Plain JSON, so it can be stored with the replica.
 *
 * `keep-marker` and `keep-mute` are what a dropped replica held of this device's own writes
 * (SPEC SDK-11): the device's marker or mute stamp of a thread, re-applied after the fresh
 * sync only when the server's copy of this device's entry is below it (the server never saw it).
 */
export type Intent =
  | { readonly kind: 'read'; readonly thread: ThreadId; readonly seq: number }
  | { readonly kind: 'unread'; readonly thread: ThreadId; readonly fromSeq: number }
  | { readonly kind: 'all-read' }
  | { readonly kind: 'mute'; readonly thread: ThreadId; readonly on: boolean }
  | { readonly kind: 'keep-marker'; readonly thread: ThreadId; readonly marker: number }
  | { readonly kind: 'keep-mute'; readonly thread: ThreadId; readonly stamp: number };

/**
 * Applies one intent to this device's array (call inside a transaction). Returns whether it
 * wrote anything. Throws RangeError when a planner refuses (too many offline mark-as-unreads or
 * mute toggles of one thread).
 */
export function applyIntent(view: MarkerView, own: KeyValueArray, device: DeviceId, intent: Intent): boolean {
  switch (intent.kind) {
    case 'read':
      return writeMarker(own, intent.thread, planRead(view, intent.thread, device, intent.seq));
    case 'unread':
      return writeMarker(own, intent.thread, planUnread(view, intent.thread, device, intent.fromSeq));
    case 'all-read': {
      const writes = planAllRead(view, device);
      for (const write of writes) own.set(write.thread, write.value);
      return writes.length > 0;
    }
    case 'mute':
      return writeMute(own, intent.thread, planMute(view, intent.thread, device, intent.on));
    case 'keep-marker': {
      const seen = view.markers(intent.thread).get(device) ?? 0;
      if (intent.marker <= seen) return false;
      // Unseen by the server: the read (or mark-as-unread) it stood for, planned afresh.
      const { epoch, seq } = unpackMarker(intent.marker);
      const current = threadEpoch(view, intent.thread);
      if (epoch === current) return writeMarker(own, intent.thread, planRead(view, intent.thread, device, seq));
      if (epoch > current) {
        return writeMarker(own, intent.thread, planUnread(view, intent.thread, device, seq + 1));
      }
      // An older epoch: the thread was marked unread since; that read no longer counts.
      return false;
    }
    case 'keep-mute': {
      const seen = view.muteStamps(intent.thread).get(device) ?? 0;
      if (intent.stamp <= seen) return false;
      const { muted } = unpackMuteStamp(intent.stamp);
      return writeMute(own, intent.thread, planMute(view, intent.thread, device, muted));
    }
  }
}

function writeMarker(own: KeyValueArray, thread: ThreadId, value: number | null): boolean {
  if (value === null) return false;
  own.set(thread, value);
  return true;
}

function writeMute(own: KeyValueArray, thread: ThreadId, stamp: number | null): boolean {
  if (stamp === null) return false;
  own.set(muteKey(thread), stamp);
  return true;
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
    case 'keep-marker':
      return isThreadId(v.thread) && isMarkerValue(v.marker)
        ? { kind: 'keep-marker', thread: v.thread, marker: v.marker }
        : null;
    case 'keep-mute':
      return isThreadId(v.thread) && isMuteStamp(v.stamp)
        ? { kind: 'keep-mute', thread: v.thread, stamp: v.stamp }
        : null;
    default:
      return null;
  }
}

function isCount(value: unknown, min: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min;
}
