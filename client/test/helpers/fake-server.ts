/**
 * The server's side of the unit tests, on a plain Y.Doc: the v2 document the test describes,
 * the handshake on a FakeSocket, and the SDK's messages applied back.
 */
import { type DeviceId, deviceRoot, type Entry, HEADS_ROOT, KeyValueArray } from '@badgesync/shared';
import * as Y from 'yjs';
import { FakeSocket } from './fake-socket.js';

/** A v2 account document: heads, and entries by device (`key` → value). */
export function serverDoc(heads: Record<string, number>, devices: Record<string, Record<string, number>> = {}): Y.Doc {
  const doc = new Y.Doc();
  const headsArray = new KeyValueArray(doc, HEADS_ROOT);
  for (const [thread, head] of Object.entries(heads)) headsArray.set(thread, head);
  for (const [device, values] of Object.entries(devices)) {
    const array = new KeyValueArray(doc, deviceRoot(device as DeviceId));
    for (const [key, value] of Object.entries(values)) array.set(key, value);
  }
  return doc;
}

/** A v1 account document (the retired maps `heads`, `reads` with `thread/device` keys, `mutes`). */
export function v1Doc(
  heads: Record<string, number>,
  reads: Record<string, number> = {},
  mutes: Record<string, boolean> = {},
): Y.Doc {
  const doc = new Y.Doc();
  for (const [thread, head] of Object.entries(heads)) doc.getMap('heads').set(thread, head);
  for (const [key, value] of Object.entries(reads)) doc.getMap('reads').set(key, value);
  for (const [thread, muted] of Object.entries(mutes)) doc.getMap('mutes').set(thread, muted);
  return doc;
}

/** A device array's live entries, as `key` → values (duplicates kept, in array order). */
export function entriesOf(doc: Y.Doc, device: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const entry of doc.getArray<Entry>(deviceRoot(device as DeviceId)).toArray()) {
    const values = out[entry.key] ?? [];
    values.push(entry.val);
    out[entry.key] = values;
  }
  return out;
}

/** Plays the server's side of a handshake on a socket (default: the last one). */
export function syncWith(server: Y.Doc, socket = FakeSocket.last): void {
  socket.open();
  socket.serverStep1(Y.encodeStateVector(server));
  socket.serverStep2(Y.encodeStateAsUpdate(server));
}

/** Applies what the SDK sent (step 2 and updates, from message `from` on) to the server's document. */
export function deliver(socket: FakeSocket, server: Y.Doc, from = 0): void {
  for (const message of socket.sentMessages().slice(from)) {
    if (message.type === 'step2' || message.type === 'update') Y.applyUpdate(server, message.update);
  }
}
