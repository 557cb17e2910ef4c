/**
 * The fuzzer's authority oracle can fail: each breach of the v2 document table the write
 * rules must prevent is reported, and an honest document is not.
 */
import assert from 'node:assert/strict';
import { HEADS_ROOT, KeyValueArray } from '@badgesync/shared';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { auditDocument } from './audit.js';

const HEADS = { inbox: 10, news: 4 };
const MAC = 'v2/device/mac';

function state(change: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc();
  const heads = new KeyValueArray(doc, HEADS_ROOT);
  heads.set('inbox', 10);
  heads.set('news', 4);
  const mac = new KeyValueArray(doc, MAC);
  mac.set('inbox', 5);
  mac.set('m/news', 3);
  change(doc);
  return Y.encodeStateAsUpdate(doc);
}

const set = (doc: Y.Doc, root: string, key: string, val: number) => new KeyValueArray(doc, root).set(key, val);

describe('the authority audit', () => {
  test('an honest document passes, and its largest values are remembered', () => {
    const markers = new Map<string, number>();
    assert.equal(
      auditDocument(
        state(() => {}),
        HEADS,
        markers,
      ),
      null,
    );
    assert.deepEqual([...markers].sort(), [
      [`${MAC} inbox`, 5],
      [`${MAC} m/news`, 3],
    ]);
    const raised = state((doc) => set(doc, MAC, 'inbox', 2 ** 32 + 1));
    assert.equal(auditDocument(raised, HEADS, markers), null, 'a mark-as-unread raises the number');
  });

  test('each breach is named', () => {
    const was = (key: string, value: number) => new Map([[`${MAC} ${key}`, value]]);
    const cases: Array<[string, (doc: Y.Doc) => void, Map<string, number>]> = [
      ['heads changed by a device', (doc) => set(doc, HEADS_ROOT, 'inbox', 0), new Map()],
      ['heads changed by a device', (doc) => doc.getArray(HEADS_ROOT).delete(0, 2), new Map()],
      ['an element outside the schema', (doc) => set(doc, 'v2/device/ipad', 'inbox', 1.5), new Map()],
      ['an element outside the schema', (doc) => set(doc, 'v2/device/ipad', 'inbox', 2 ** 53), new Map()],
      ['an element outside the schema', (doc) => set(doc, 'v2/device/ipad', 'm/news', 1), new Map()],
      ['an element outside the schema', (doc) => set(doc, 'v2/device/ipad', 'x/y', 1), new Map()],
      ['an element outside the schema', (doc) => doc.getArray(MAC).push([{ key: 'inbox', val: 6, x: 1 }]), new Map()],
      ['a marker or mute stamp went down', (doc) => set(doc, MAC, 'inbox', 0), was('inbox', 5)],
      ['a marker or mute stamp went down', (doc) => set(doc, MAC, 'm/news', 2), was('m/news', 3)],
      ['an entry was deleted', (doc) => doc.getArray(MAC).delete(0, 1), was('inbox', 5)],
      ['a map entry (v1 content)', (doc) => doc.getMap('v2/device/ipad').set('inbox', 5), new Map()],
      ['a top-level type outside the schema', (doc) => doc.getMap('reads').set('inbox/mac', 5), new Map()],
      ['a top-level type outside the schema', (doc) => doc.getArray('extra').push([1]), new Map()],
      ['a nested type', (doc) => doc.getArray(MAC).push([new Y.Map()]), new Map()],
    ];
    for (const [kind, change, markers] of cases) {
      assert.equal(auditDocument(state(change), HEADS, markers)?.kind, kind, kind);
    }
  });
});
