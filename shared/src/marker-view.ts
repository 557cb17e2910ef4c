import type { Entry } from './document.js';
import type { DeviceId, ThreadId } from './ids.js';

/**
 * What the write rules and the planners need to know of a replica's current state, answered
 * without scanning the document. CountsTracker implements it (contract v2: SPEC COUNT-10..).
 */
export interface MarkerView {
  /** head(t): the largest live `v2/heads` entry of the thread, 0 when none. */
  head(thread: ThreadId): number;
  /** m(t): the largest marker of the thread over all device arrays, 0 when none. */
  maxMarker(thread: ThreadId): number;
  /** The thread's markers by device: each device's largest live marker entry of it. */
  markers(thread: ThreadId): ReadonlyMap<DeviceId, number>;
  /** S(t): the largest live mute stamp of the thread over all device arrays, 0 when none. */
  muteStamp(thread: ThreadId): number;
  /** The thread's mute stamps by device: each device's largest live `m/<thread>` entry. */
  muteStamps(thread: ThreadId): ReadonlyMap<DeviceId, number>;
  /** Whether the thread is muted: S(t) is odd. */
  isMuted(thread: ThreadId): boolean;
  /** Every thread that has a head. */
  threadsWithHead(): Iterable<ThreadId>;
  /**
   * The live entries of `key` in `device`'s array, in no particular order (more than one
   * after concurrent sessions of one device). Empty when none.
   */
  liveEntries(device: DeviceId, key: string): readonly Entry[];
}
