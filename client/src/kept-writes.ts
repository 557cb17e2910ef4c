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
  type DeviceId,
  deviceRoot,
  isDeviceEntry,
  isMarkerValue,
  parseEntryKey,
  type ThreadId,
} from '@badgesync/shared';
import type * as Y from 'yjs';
import type { Intent } from './intents.js';

/** v1's reads map and its key separator (`thread/device`); contract v1 is retired (docs/SPEC.md). */
const V1_READS_ROOT = 'reads';
const V1_KEY_SEPARATOR = '/';

export function keptWrites(doc: Y.Doc, device: DeviceId): Intent[] {
  const markers = new Map<ThreadId, number>();
  const mutes = new Map<ThreadId, number>();
  const keepMax = (map: Map<ThreadId, number>, thread: ThreadId, value: number) => {
    if (value > (map.get(thread) ?? 0)) map.set(thread, value);
  };
  const reads = doc.share.get(V1_READS_ROOT);
  if (reads !== undefined) {
    // Read through the raw map of the root, whatever type it was first named as.
    for (const [key, item] of reads._map) {
      if (item.deleted) continue;
      const at = key.lastIndexOf(V1_KEY_SEPARATOR);
      if (at < 0 || key.slice(at + 1) !== device) continue;
      const thread = parseEntryKey(key.slice(0, at));
      const value = item.content.getContent().at(-1);
      if (thread?.kind === 'marker' && isMarkerValue(value)) keepMax(markers, thread.thread, value);
    }
  }
  const own = doc.share.get(deviceRoot(device));
  if (own !== undefined) {
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
