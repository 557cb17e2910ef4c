import { KeyValueArray } from '@badgesync/shared';
import * as Y from 'yjs';

/**
 * `count` read-marker updates of one device, as contract v2 stores them: its own array, one entry
 * per thread (50 threads, so later writes replace earlier entries as a device's do).
 */
export function markerUpdates(count: number): Uint8Array[] {
  const doc = new Y.Doc();
  const updates: Uint8Array[] = [];
  doc.on('update', (u: Uint8Array) => updates.push(u));
  const mine = new KeyValueArray(doc, 'v2/device/iphone-1');
  for (let i = 1; i <= count; i++) mine.set(`t${i % 50}`, i);
  return updates;
}
