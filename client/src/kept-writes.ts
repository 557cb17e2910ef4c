/**
 * What a replica about to be dropped (SPEC SDK-11) holds of this device's own writes, as
 * intents to re-apply after the fresh sync: every marker of the device (v1's `reads` map and
 * its v2 array) and every mute stamp of its v2 array. Each is re-applied only if the server's
 * copy of the device's entry turns out to be below it (intents.ts, `keep-marker`/`keep-mute`).
 *
 * Not kept: a v1 replica's mutes. v1's `mutes` map is account-wide (the last writer wins), so
 * a local value that differs from the server's cannot be told apart from one the server
 * replaced later; the server's value stands.
 */
import {
  accountMaps,
  type DeviceId,
  deviceRoot,
  isDeviceEntry,
  isMarkerValue,
  parseEntryKey,
  parseReadsKey,
  ROOT,
  type ThreadId,
} from '@badgesync/shared';
import type * as Y from 'yjs';
import type { Intent } from './intents.js';

/** The intents that keep this device's writes of a replica about to be dropped. */
export function keptWrites(doc: Y.Doc, device: DeviceId): Intent[] {
  const markers = new Map<ThreadId, number>();
  const mutes = new Map<ThreadId, number>();
  const keepMax = (map: Map<ThreadId, number>, thread: ThreadId, value: number) => {
    if (value > (map.get(thread) ?? 0)) map.set(thread, value);
  };
  // The dropped document is read once and thrown away: naming v1's maps there is harmless.
  if (doc.share.has(ROOT.reads)) {
    for (const [key, value] of accountMaps(doc).reads) {
      const parsed = parseReadsKey(key);
      if (parsed?.device === device && isMarkerValue(value)) keepMax(markers, parsed.thread, value);
    }
  }
  if (doc.share.has(deviceRoot(device))) {
    for (const entry of doc.getArray<unknown>(deviceRoot(device)).toArray()) {
      if (!isDeviceEntry(entry)) continue;
      const key = parseEntryKey(entry.key);
      if (key === null) continue;
      keepMax(key.kind === 'marker' ? markers : mutes, key.thread, entry.val);
    }
  }
  const intents: Intent[] = [];
  for (const [thread, marker] of markers) intents.push({ kind: 'keep-marker', thread, marker });
  for (const [thread, stamp] of mutes) intents.push({ kind: 'keep-mute', thread, stamp });
  return intents;
}
