/**
 * Reads, mark-as-unread and mutes as a device's SDK writes them (shared's planners, then
 * KeyValueArray into the device's own array `v2/device/<device>`), on any replica: a stock
 * provider's doc or a raw client's.
 */
import {
  CountsTracker,
  type DeviceId,
  deviceRoot,
  KeyValueArray,
  muteKey,
  planMute,
  planRead,
  planUnread,
  type ThreadId,
} from '@badgesync/shared';
import type * as Y from 'yjs';

/** Writes `{ key, val }` into `device`'s own array, replacing its live entries of `key` (SPEC DOC-13). */
export function setEntry(doc: Y.Doc, device: string, key: string, val: number): void {
  new KeyValueArray(doc, deviceRoot(device as DeviceId)).set(key, val);
}

function write(doc: Y.Doc, device: string, key: string, plan: (view: CountsTracker) => number | null): number | null {
  const view = new CountsTracker(doc);
  try {
    const value = plan(view);
    if (value !== null) setEntry(doc, device, key, value);
    return value;
  } finally {
    view.destroy();
  }
}

/** Reads `thread` up to `seq` on `doc` as `device`; the marker written, or null if none was needed. */
export function markRead(doc: Y.Doc, device: string, thread: string, seq: number): number | null {
  return write(doc, device, thread, (view) => planRead(view, thread as ThreadId, device as DeviceId, seq));
}

/** Marks `thread` unread from item `fromSeq` on, as `device`. */
export function markUnread(doc: Y.Doc, device: string, thread: string, fromSeq: number): number | null {
  return write(doc, device, thread, (view) => planUnread(view, thread as ThreadId, device as DeviceId, fromSeq));
}

/** Mutes or unmutes `thread` as `device`; the mute stamp written, or null if it already was. */
export function markMuted(doc: Y.Doc, device: string, thread: string, muted: boolean): number | null {
  return write(doc, device, muteKey(thread as ThreadId), (view) =>
    planMute(view, thread as ThreadId, device as DeviceId, muted),
  );
}
