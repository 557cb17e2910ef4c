import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  accountMaps,
  type DeviceId,
  EPOCH_FACTOR,
  isHeadValue,
  isMarkerValue,
  isMuteValue,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  MAX_SEQ,
  packMarker,
  parseReadsKey,
  ROOT,
  ROOT_NAMES,
  readsKey,
  type ThreadId,
  unpackMarker,
} from '../src/index.js';
import { propertyParams } from './helpers/seed.js';

const epochs = fc.integer({ min: 0, max: MAX_EPOCH });
const seqs = fc.integer({ min: 0, max: MAX_SEQ });

describe('document schema', () => {
  test('[DOC-1] three top-level maps: heads, reads, mutes', () => {
    assert.deepEqual(ROOT, { heads: 'heads', reads: 'reads', mutes: 'mutes' });
    assert.deepEqual([...ROOT_NAMES].sort(), ['heads', 'mutes', 'reads']);
    const doc = new Y.Doc();
    const maps = accountMaps(doc);
    assert.equal(maps.heads, doc.getMap('heads'));
    assert.equal(maps.reads, doc.getMap('reads'));
    assert.equal(maps.mutes, doc.getMap('mutes'));
    assert.deepEqual([...doc.share.keys()].sort(), ['heads', 'mutes', 'reads']);
  });

  test('[DOC-3] a reads key is thread/device and parses back', () => {
    assert.equal(readsKey('inbox' as ThreadId, 'phone' as DeviceId), 'inbox/phone');
    assert.deepEqual(parseReadsKey('inbox/phone'), { thread: 'inbox', device: 'phone' });
    assert.deepEqual(parseReadsKey('inbox/@server'), { thread: 'inbox', device: '@server' });
  });

  test('[DOC-3] keys that are not validThread/validDevice do not parse', () => {
    for (const key of [
      'inbox',
      '/phone',
      'inbox/',
      '/',
      'a/b/c',
      'in box/phone',
      'inbox/ph one',
      `${'x'.repeat(129)}/p`,
      '',
    ]) {
      assert.equal(parseReadsKey(key), null, JSON.stringify(key));
    }
  });

  test('[DOC-4] packMarker and unpackMarker round-trip every epoch and seq', () => {
    assert.equal(EPOCH_FACTOR, 2 ** 32);
    assert.deepEqual(unpackMarker(packMarker(0, 0)), { epoch: 0, seq: 0 });
    assert.deepEqual(unpackMarker(packMarker(MAX_EPOCH, MAX_SEQ)), { epoch: MAX_EPOCH, seq: MAX_SEQ });
    fc.assert(
      fc.property(epochs, seqs, (epoch, seq) => {
        const value = packMarker(epoch, seq);
        assert.equal(Number.isSafeInteger(value), true);
        assert.equal(isMarkerValue(value), true);
        assert.deepEqual(unpackMarker(value), { epoch, seq });
      }),
      propertyParams('schema pack', 500),
    );
  });

  test('[DOC-4] marker order is (epoch, seq) order: any newer epoch beats any seq of an older one', () => {
    fc.assert(
      fc.property(epochs, seqs, epochs, seqs, (e1, s1, e2, s2) => {
        const byNumber = Math.sign(packMarker(e1, s1) - packMarker(e2, s2));
        const byPair = e1 !== e2 ? Math.sign(e1 - e2) : Math.sign(s1 - s2);
        assert.equal(byNumber, byPair);
      }),
      propertyParams('schema order', 500),
    );
  });

  test('[DOC-4] isMarkerValue accepts exact non-negative integers with epoch ≤ MAX_EPOCH, nothing else', () => {
    for (const value of [0, 1, MAX_SEQ, EPOCH_FACTOR, packMarker(MAX_EPOCH, MAX_SEQ)]) {
      assert.equal(isMarkerValue(value), true, String(value));
    }
    const rejected = [-1, -0.5, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, (MAX_EPOCH + 1) * EPOCH_FACTOR];
    for (const value of [...rejected, '5', true, null, undefined, {}, [1], BigInt(1)]) {
      assert.equal(isMarkerValue(value), false, String(value));
    }
  });

  test('[DOC-5] the largest marker is an exact double, and the epoch lead is 16', () => {
    assert.equal(MAX_EPOCH, 2 ** 21 - 1);
    assert.equal(MAX_SEQ, 2 ** 32 - 1);
    assert.equal(Number.isSafeInteger(packMarker(MAX_EPOCH, MAX_SEQ)), true);
    assert.equal(packMarker(MAX_EPOCH, MAX_SEQ), Number.MAX_SAFE_INTEGER);
    assert.equal(MAX_EPOCH_LEAD, 16);
  });

  test('[DOC-2] isHeadValue accepts integers 0..2^32−1', () => {
    for (const value of [0, 1, MAX_SEQ]) assert.equal(isHeadValue(value), true);
    for (const value of [-1, MAX_SEQ + 1, 1.5, Number.NaN, '3', null, true]) assert.equal(isHeadValue(value), false);
  });

  test('[DOC-6] isMuteValue accepts booleans only', () => {
    assert.equal(isMuteValue(true), true);
    assert.equal(isMuteValue(false), true);
    for (const value of [0, 1, 'true', null, undefined, {}]) assert.equal(isMuteValue(value), false);
  });
});
