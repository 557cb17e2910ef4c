/**
 * Converting a v1 document to v2 (SPEC DOC-15): run once by the server on a stored v1
 * document. The counts of the result equal the v1 document's (a property test holds them
 * equal).
 */
import * as Y from 'yjs';
import { deviceRoot, type Entry, HEADS_ROOT, muteKey, packMuteStamp, V1_ROOTS } from '../document.js';
import { isThreadId, SERVER_DEVICE } from '../ids.js';
import { isHeadValue, isMarkerValue } from '../schema.js';
import { accountMaps, parseReadsKey } from './schema.js';

/**
 * [DOC-12] Whether `doc` holds v1 content: a `heads`, `reads` or `mutes` root holding map
 * entries (live or deleted). Such a replica predates v2.
 */
export function hasV1Content(doc: Y.Doc): boolean {
  for (const name of V1_ROOTS) {
    const type = doc.share.get(name);
    if (type === undefined) continue;
    if (type._map.size > 0) return true;
    for (let item = type._start; item !== null; item = item.right) if (item.parentSub !== null) return true;
  }
  return false;
}

/**
 * [DOC-15] A fresh v2 document, written under `clientId`, with the same counts as `v1`: its
 * heads in `v2/heads`, each (thread, device) marker in `v2/device/<device>` (`@server`
 * included), and each `mutes[t] === true` as `{ key: "m/t", val: packMuteStamp(1, true) }` in
 * `v2/device/@server`. Entries that v1's schema does not allow are left out. v1 holds one
 * value per key, so each array gets one live entry per key (what KeyValueArray.set leaves),
 * pushed in one item per array, sorted by key so the result does not depend on map order.
 */
export function convertV1Document(v1: Y.Doc, clientId: number): Y.Doc {
  const { heads, reads, mutes } = accountMaps(v1);
  const arrays = new Map<string, Entry[]>();
  const put = (root: string, key: string, val: number): void => {
    let entries = arrays.get(root);
    if (entries === undefined) {
      entries = [];
      arrays.set(root, entries);
    }
    entries.push({ key, val });
  };
  for (const [thread, head] of heads) if (isThreadId(thread) && isHeadValue(head)) put(HEADS_ROOT, thread, head);
  for (const [key, marker] of reads) {
    const parsed = parseReadsKey(key);
    if (parsed !== null && isMarkerValue(marker)) put(deviceRoot(parsed.device), parsed.thread, marker);
  }
  const server = deviceRoot(SERVER_DEVICE);
  for (const [thread, on] of mutes)
    if (on === true && isThreadId(thread)) put(server, muteKey(thread), packMuteStamp(1, true));
  const doc = new Y.Doc();
  doc.clientID = clientId;
  doc.transact(() => {
    for (const root of [...arrays.keys()].sort()) {
      const entries = (arrays.get(root) as Entry[]).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      doc.getArray<Entry>(root).push(entries);
    }
  });
  return doc;
}
