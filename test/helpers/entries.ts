/**
 * Reading a v2 replica (docs/SPEC.md DOC-7..) as plain arrays, the way a stock client does:
 * the largest live value per key. Deliberately not through shared's CountsTracker, so tests
 * that check the tracker's answers do not read the document with the code under test.
 */
import { deviceRoot, type Entry, HEADS_ROOT, isEntry, muteKey, parseDeviceRoot } from '@badgesync/shared';
import type * as Y from 'yjs';

/** The live well-formed entries of `root` (an array root; an untyped one becomes one). */
export function liveEntries(doc: Y.Doc, root: string): Entry[] {
  return doc.getArray<unknown>(root).toArray().filter(isEntry);
}

/** The largest live value of `key` in `root`; 0 when it has none. */
export function largest(doc: Y.Doc, root: string, key: string): number {
  let max = 0;
  for (const entry of liveEntries(doc, root)) if (entry.key === key) max = Math.max(max, entry.val);
  return max;
}

/** How many live entries of `key` `root` holds (more than one after concurrent sessions). */
export function liveCount(doc: Y.Doc, root: string, key: string): number {
  return liveEntries(doc, root).filter((entry) => entry.key === key).length;
}

/** head(t) on this replica. */
export function headOf(doc: Y.Doc, thread: string): number {
  return largest(doc, HEADS_ROOT, thread);
}

/** `device`'s marker of `thread` on this replica (its largest live marker entry). */
export function markerOf(doc: Y.Doc, device: string, thread: string): number {
  return largest(doc, deviceRoot(device as Parameters<typeof deviceRoot>[0]), thread);
}

/** The device arrays this replica holds. */
export function deviceRoots(doc: Y.Doc): string[] {
  return [...doc.share.keys()].filter((root) => parseDeviceRoot(root) !== null);
}

/** S(t): the largest mute stamp of `thread` over every device array. */
export function muteStampOf(doc: Y.Doc, thread: string): number {
  const key = muteKey(thread as Parameters<typeof muteKey>[0]);
  return Math.max(0, ...deviceRoots(doc).map((root) => largest(doc, root, key)));
}

/** Whether `thread` is muted on this replica: S(t) is odd. */
export function isMutedIn(doc: Y.Doc, thread: string): boolean {
  return muteStampOf(doc, thread) % 2 === 1;
}
