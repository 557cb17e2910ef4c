/**
 * Reads and mark-as-unread as a device's SDK writes them (shared/src/markers.ts planners),
 * on any replica: a stock provider's doc or a raw client's.
 */
import {
  accountMaps,
  CountsTracker,
  type DeviceId,
  planRead,
  planUnread,
  readsKey,
  type ThreadId,
} from '@badgesync/shared';
import type * as Y from 'yjs';

function write(
  doc: Y.Doc,
  device: string,
  thread: string,
  plan: (view: CountsTracker) => number | null,
): number | null {
  const view = new CountsTracker(doc);
  try {
    const value = plan(view);
    if (value !== null) accountMaps(doc).reads.set(readsKey(thread as ThreadId, device as DeviceId), value);
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
