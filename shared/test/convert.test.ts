/**
 * Converting a v1 document (SPEC DOC-12, DOC-15): the v2 result has the v1 document's
 * counts, holds only v2 roots written under the given client ID, and v1 content is detected.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  accountMaps,
  CountsTracker,
  convertV1Document,
  type DeviceId,
  deriveCounts,
  deriveV1Counts,
  type Entry,
  hasV1Content,
  isV2Root,
  KeyValueArray,
  MAX_EPOCH,
  packMarker,
  packMuteStamp,
  parseReadsKey,
  readsKey,
  type ThreadId,
} from '../src/index.js';
import { propertyParams } from './helpers/seed.js';

const id = fc.constantFrom('t0', 't1', 't2', '@server', 'd1', 'd2', '__proto__', 'bad id', 'a/b', '');
const marker = fc.oneof(
  fc.nat({ max: 20 }),
  fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 20 })).map(([e, s]) => packMarker(e, s)),
  fc.constantFrom(-1, 1.5, packMarker(MAX_EPOCH + 1, 0), Number.NaN),
  fc.constant('7' as unknown as number),
);
const v1Doc = fc.record({
  heads: fc.array(fc.tuple(id, fc.oneof(fc.nat({ max: 25 }), fc.constantFrom(-1, 2 ** 32, 0.5))), { maxLength: 6 }),
  reads: fc.array(fc.tuple(id, id, marker), { maxLength: 14 }),
  rawReads: fc.array(fc.tuple(id, fc.nat({ max: 9 })), { maxLength: 2 }),
  mutes: fc.array(fc.tuple(id, fc.constantFrom<unknown>(true, false, 'true', 1)), { maxLength: 5 }),
  deletes: fc.array(id, { maxLength: 2 }),
});

type V1Spec = typeof v1Doc extends fc.Arbitrary<infer T> ? T : never;

function buildV1(spec: V1Spec): Y.Doc {
  const doc = new Y.Doc();
  const { heads, reads, mutes } = accountMaps(doc);
  doc.transact(() => {
    for (const [t, h] of spec.heads) heads.set(t, h);
    for (const [t, d, m] of spec.reads) reads.set(`${t}/${d}`, m);
    for (const [k, m] of spec.rawReads) reads.set(k, m);
    for (const [t, on] of spec.mutes) (mutes as Y.Map<unknown>).set(t, on);
  });
  doc.transact(() => {
    for (const t of spec.deletes) {
      heads.delete(t);
      mutes.delete(t);
    }
  });
  return doc;
}

describe('convertV1Document', () => {
  test('[DOC-15] the converted document has the v1 document’s counts (v1 reader before, v2 after)', () => {
    fc.assert(
      fc.property(v1Doc, fc.integer({ min: 1, max: 2 ** 32 - 1 }), (spec, clientId) => {
        const v1 = buildV1(spec);
        const v2 = convertV1Document(v1, clientId);
        assert.deepEqual(deriveCounts(v2), deriveV1Counts(v1));
        assert.deepEqual(new CountsTracker(v2).counts(), deriveV1Counts(v1));
        // Only v2 roots, written under the given client ID, and no v1 content.
        assert.ok([...v2.share.keys()].every(isV2Root));
        assert.ok([...v2.store.clients.keys()].every((c) => c === clientId));
        assert.equal(hasV1Content(v2), false);
        // A replica receiving the converted state derives the same counts.
        const replica = new Y.Doc();
        Y.applyUpdate(replica, Y.encodeStateAsUpdate(v2));
        assert.deepEqual(deriveCounts(replica), deriveV1Counts(v1));
      }),
      propertyParams('convert v1', 200),
    );
  });

  test('[DOC-15] heads, every (thread, device) marker and true mutes land in their v2 arrays', () => {
    const v1 = new Y.Doc();
    const { heads, reads, mutes } = accountMaps(v1);
    heads.set('t', 9);
    heads.set('u', 4);
    reads.set('t/phone', packMarker(1, 3));
    reads.set('t/@server', 5);
    reads.set('u/phone', 2);
    reads.set('bad key', 1);
    mutes.set('u', true);
    mutes.set('t', false);
    const v2 = convertV1Document(v1, 77);
    assert.equal(v2.clientID, 77);
    const arrays = Object.fromEntries([...v2.share.keys()].map((name) => [name, v2.getArray<Entry>(name).toArray()]));
    assert.deepEqual(arrays, {
      'v2/heads': [
        { key: 't', val: 9 },
        { key: 'u', val: 4 },
      ],
      'v2/device/@server': [
        { key: 'm/u', val: packMuteStamp(1, true) },
        { key: 't', val: 5 },
      ],
      'v2/device/phone': [
        { key: 't', val: packMarker(1, 3) },
        { key: 'u', val: 2 },
      ],
    });
    assert.deepEqual(deriveCounts(v2), { badge: 6, threads: { t: 6, u: 2 }, muted: ['u'] });
  });

  test('[DOC-15] an empty v1 document converts to an empty one', () => {
    const v2 = convertV1Document(new Y.Doc(), 5);
    assert.equal(v2.share.size, 0);
    assert.deepEqual(deriveCounts(v2), { badge: 0, threads: {}, muted: [] });
  });
});

describe('hasV1Content', () => {
  test('[DOC-12] a heads, reads or mutes root with map entries, live or deleted, is v1 content', () => {
    for (const root of ['heads', 'reads', 'mutes']) {
      const doc = new Y.Doc();
      doc.getMap(root).set('t', 1);
      assert.equal(hasV1Content(doc), true, root);
      doc.getMap(root).delete('t');
      assert.equal(hasV1Content(doc), true, `${root} deleted`);
      // Received from a remote update (a plain AbstractType on this replica).
      const replica = new Y.Doc();
      Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
      assert.equal(hasV1Content(replica), true, `${root} remote`);
    }
  });

  test('[DOC-12] a v2 document, an empty one, or v1 names that only were asked for, are not', () => {
    const doc = new Y.Doc();
    assert.equal(hasV1Content(doc), false);
    new KeyValueArray(doc, 'v2/device/phone').set('t', 3);
    new KeyValueArray(doc, 'v2/heads').set('t', 5);
    doc.getMap('heads');
    assert.equal(hasV1Content(doc), false);
  });
});

describe('v1 reads keys (read only to convert)', () => {
  test('a reads key is thread/device and parses back; anything else does not parse', () => {
    assert.equal(readsKey('inbox' as ThreadId, 'phone' as DeviceId), 'inbox/phone');
    assert.deepEqual(parseReadsKey('inbox/phone'), { thread: 'inbox', device: 'phone' });
    assert.deepEqual(parseReadsKey('inbox/@server'), { thread: 'inbox', device: '@server' });
    for (const key of ['inbox', '/phone', 'inbox/', '/', 'a/b/c', 'in box/phone', `${'x'.repeat(129)}/p`, '']) {
      assert.equal(parseReadsKey(key), null, JSON.stringify(key));
    }
  });
});
