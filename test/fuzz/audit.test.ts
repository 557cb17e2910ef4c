/**
 * The fuzzer's authority oracle can fail: each breach of the document table the write rules
 * must prevent (the ones a review found with hand-built updates) is reported, and an honest
 * document is not.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { auditDocument } from './audit.js';

const HEADS = { inbox: 10, news: 4 };

function state(change: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc();
  doc.getMap('heads').set('inbox', 10);
  doc.getMap('heads').set('news', 4);
  doc.getMap('reads').set('inbox/mac', 5);
  doc.getMap('mutes').set('news', true);
  change(doc);
  return Y.encodeStateAsUpdate(doc);
}

describe('the authority audit', () => {
  test('an honest document passes, and its markers are remembered', () => {
    const markers = new Map<string, number>();
    assert.equal(
      auditDocument(
        state(() => {}),
        HEADS,
        markers,
      ),
      null,
    );
    assert.deepEqual([...markers], [['inbox/mac', 5]]);
    const raised = state((doc) => doc.getMap('reads').set('inbox/mac', 2 ** 32 + 1));
    assert.equal(auditDocument(raised, HEADS, markers), null, 'a mark-as-unread raises the number');
  });

  test('each breach is named', () => {
    const cases: Array<[string, (doc: Y.Doc) => void, Map<string, number>]> = [
      ['heads changed by a device', (doc) => doc.getMap('heads').set('inbox', 0), new Map()],
      ['a marker that is not a safe integer ≥ 0', (doc) => doc.getMap('reads').set('inbox/ipad', 1.5), new Map()],
      ['a marker that is not a safe integer ≥ 0', (doc) => doc.getMap('reads').set('inbox/ipad', 2 ** 53), new Map()],
      ['a marker went down', (doc) => doc.getMap('reads').set('inbox/mac', 0), new Map([['inbox/mac', 5]])],
      ['a marker was deleted', (doc) => doc.getMap('reads').delete('inbox/mac'), new Map([['inbox/mac', 5]])],
      ['a mute that is not a boolean', (doc) => doc.getMap('mutes').set('news', 'yes'), new Map()],
      ['a top-level type outside the schema', (doc) => doc.getArray('extra').push([1]), new Map()],
    ];
    for (const [kind, change, markers] of cases) {
      assert.equal(auditDocument(state(change), HEADS, markers)?.kind, kind);
    }
  });
});
