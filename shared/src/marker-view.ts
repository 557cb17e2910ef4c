import type { DeviceId, ThreadId } from './ids.js';

/**
 * What the write rules and the marker planners need to know of a replica's current state,
 * answered in O(devices of one thread) without scanning the document. CountsTracker
 * implements it.
 */
export interface MarkerView {
  /** heads[t], 0 when the thread has no head. */
  head(thread: ThreadId): number;
  /** m(t): the largest marker of the thread over all devices, 0 when none. */
  maxMarker(thread: ThreadId): number;
  /** The thread's markers by device. */
  markers(thread: ThreadId): ReadonlyMap<DeviceId, number>;
  /** Whether the thread is muted. */
  isMuted(thread: ThreadId): boolean;
  /** Every thread that has a head. */
  threadsWithHead(): Iterable<ThreadId>;
}
