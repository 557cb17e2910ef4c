/**
 * What a device (or the server, as `@server`) writes to read, mark unread, mark all read
 * (SPEC MARK-1..MARK-5) or mute (MARK-6, MARK-7). Each planner answers the value to write
 * under its own array's key (KeyValueArray.set), or null when writing would change nothing.
 * A device's marker is its largest live marker entry (MarkerView.markers), so a duplicate a
 * concurrent session left never makes a planner answer less than the device already has. [MARK-5] A value it answers on a replica that has synced
 * passes the write rules of a server whose state includes what this replica has seen.
 */
import { MAX_MUTE_COUNTER, MAX_MUTE_LEAD, packMuteStamp, unpackMuteStamp } from './document.js';
import type { DeviceId, ThreadId } from './ids.js';
import type { MarkerView } from './marker-view.js';
import { MAX_EPOCH, MAX_EPOCH_LEAD, packMarker, unpackMarker } from './schema.js';

/** The current epoch of a thread: the epoch of its largest marker. */
export function threadEpoch(view: MarkerView, thread: ThreadId): number {
  return unpackMarker(view.maxMarker(thread)).epoch;
}

/**
 * [MARK-1] Read up to `seq` (clamped to the head) in the thread's current epoch. Null when
 * the thread is already read that far: a read never lowers anything.
 */
export function planRead(view: MarkerView, thread: ThreadId, device: DeviceId, seq: number): number | null {
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be an integer ≥ 0, got ${seq}`);
  const value = packMarker(threadEpoch(view, thread), Math.min(seq, view.head(thread)));
  const own = view.markers(thread).get(device) ?? 0;
  if (value <= own || value <= view.maxMarker(thread)) return null;
  return value;
}

/**
 * [MARK-2] Mark the thread unread from item `fromSeq` on: a new epoch E+1 with seq
 * `fromSeq − 1`, which beats every marker of the older epoch. Null when nothing would
 * become unread: `fromSeq` beyond the head, or at or after the first unread item (the new
 * marker would then read items instead). [MARK-3] Refused (RangeError) when the new epoch
 * would run more than MAX_EPOCH_LEAD above every other device's marker this replica has
 * seen: the server would refuse it.
 */
export function planUnread(view: MarkerView, thread: ThreadId, device: DeviceId, fromSeq: number): number | null {
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
    throw new RangeError(`fromSeq must be an integer ≥ 1, got ${fromSeq}`);
  }
  const head = view.head(thread);
  const seq = Math.min(fromSeq - 1, head);
  if (seq >= head || seq >= unpackMarker(view.maxMarker(thread)).seq) return null;
  const epoch = threadEpoch(view, thread) + 1;
  let othersEpoch = 0;
  for (const [other, marker] of view.markers(thread)) {
    if (other !== device) othersEpoch = Math.max(othersEpoch, unpackMarker(marker).epoch);
  }
  if (epoch > othersEpoch + MAX_EPOCH_LEAD || epoch > MAX_EPOCH) {
    throw new RangeError(`too many mark-as-unread of ${thread} before the server saw them; sync first`);
  }
  return packMarker(epoch, seq);
}

/** One marker write: the thread (the key in the writer's array) and the marker. */
export interface MarkerWrite {
  readonly thread: ThreadId;
  readonly value: number;
}

/** [MARK-4] Mark all read: for each thread with unread items, its current epoch with seq = head. */
export function planAllRead(view: MarkerView, device: DeviceId): MarkerWrite[] {
  const writes: MarkerWrite[] = [];
  for (const thread of view.threadsWithHead()) {
    const value = planRead(view, thread, device, view.head(thread));
    if (value !== null) writes.push({ thread, value });
  }
  return writes;
}

/**
 * [MARK-6] Mute (`muted` true) or unmute the thread: the stamp to write under `m/<thread>`,
 * with counter = the counter of S(t) + 1, which beats every stamp this replica has seen. Null
 * when the thread is already in that state. [MARK-7] Refused (RangeError) when the counter
 * would run more than MAX_MUTE_LEAD above every other device's stamp of the thread this
 * replica has seen (the server would refuse it), or past MAX_MUTE_COUNTER.
 */
export function planMute(view: MarkerView, thread: ThreadId, device: DeviceId, muted: boolean): number | null {
  if (view.isMuted(thread) === muted) return null;
  const counter = unpackMuteStamp(view.muteStamp(thread)).counter + 1;
  let othersCounter = 0;
  for (const [other, stamp] of view.muteStamps(thread)) {
    if (other !== device) othersCounter = Math.max(othersCounter, unpackMuteStamp(stamp).counter);
  }
  if (counter > othersCounter + MAX_MUTE_LEAD || counter > MAX_MUTE_COUNTER) {
    throw new RangeError(`too many mute changes of ${thread} before the server saw them; sync first`);
  }
  return packMuteStamp(counter, muted);
}
