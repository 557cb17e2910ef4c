import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  DEVICE_ROOT_PREFIX,
  type DeviceId,
  deviceRoot,
  type Entry,
  EPOCH_FACTOR,
  HEADS_ROOT,
  isDeviceEntry,
  isEntry,
  isHeadEntry,
  isHeadValue,
  isMarkerValue,
  isMuteStamp,
  isV2Root,
  KeyValueArray,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  MAX_MUTE_COUNTER,
  MAX_MUTE_LEAD,
  MAX_SEQ,
  MUTE_KEY_PREFIX,
  muteKey,
  packMarker,
  packMuteStamp,
  parseDeviceRoot,
  parseEntryKey,
  SERVER_DEVICE,
  type ThreadId,
  unpackMarker,
  unpackMuteStamp,
  V1_ROOTS,
} from '../src/index.js';
import { propertyParams } from './helpers/seed.js';
import { syncPair } from './helpers/v2-mesh.js';

const epochs = fc.integer({ min: 0, max: MAX_EPOCH });
const seqs = fc.integer({ min: 0, max: MAX_SEQ });

describe('document schema', () => {
  test('[DOC-7] the heads array is v2/heads; its entries are a thread and a head', () => {
    assert.equal(HEADS_ROOT, 'v2/heads');
    assert.equal(isHeadEntry({ key: 'inbox', val: 4 }), true);
    for (const value of [
      { key: 'in box', val: 4 },
      { key: 'm/inbox', val: 4 },
      { key: 'inbox', val: -1 },
      { key: 'inbox', val: MAX_SEQ + 1 },
    ]) {
      assert.equal(isHeadEntry(value), false, JSON.stringify(value));
    }
  });

  test('[DOC-7] isHeadValue accepts integers 0..2^32−1', () => {
    for (const value of [0, 1, MAX_SEQ]) assert.equal(isHeadValue(value), true);
    for (const value of [-1, MAX_SEQ + 1, 1.5, Number.NaN, '3', null, true]) assert.equal(isHeadValue(value), false);
  });

  test('[DOC-8] a device’s array is v2/device/<deviceId>, @server included, and the name parses back one way', () => {
    assert.equal(DEVICE_ROOT_PREFIX, 'v2/device/');
    assert.equal(deviceRoot('phone' as DeviceId), 'v2/device/phone');
    assert.equal(parseDeviceRoot('v2/device/phone'), 'phone');
    assert.equal(parseDeviceRoot(deviceRoot(SERVER_DEVICE)), SERVER_DEVICE);
    for (const name of [
      'v2/device/',
      'v2/device/a/b',
      'v2/device/ph one',
      'v2/heads',
      'v2/devices/a',
      'reads',
      'phone',
    ]) {
      assert.equal(parseDeviceRoot(name), null, name);
    }
    assert.equal(isV2Root('v2/heads'), true);
    assert.equal(isV2Root('v2/device/phone'), true);
    for (const name of ['heads', 'reads', 'mutes', 'v2/device/', 'other', ''])
      assert.equal(isV2Root(name), false, name);
  });

  test('[DOC-9] a device array’s key is a thread (a marker) or m/<thread> (a mute stamp)', () => {
    assert.equal(MUTE_KEY_PREFIX, 'm/');
    assert.equal(muteKey('inbox' as ThreadId), 'm/inbox');
    assert.deepEqual(parseEntryKey('inbox'), { kind: 'marker', thread: 'inbox' });
    assert.deepEqual(parseEntryKey('m/inbox'), { kind: 'mute', thread: 'inbox' });
    // "m" alone is a thread ID; "m/" with nothing or an invalid ID after it is neither.
    assert.deepEqual(parseEntryKey('m'), { kind: 'marker', thread: 'm' });
    for (const key of ['m/', 'm/a/b', 'm/in box', 'a/b', '', 'x'.repeat(129), 'M/inbox']) {
      assert.equal(parseEntryKey(key), null, JSON.stringify(key));
    }
    assert.equal(isDeviceEntry({ key: 'inbox', val: packMarker(2, 3) }), true);
    assert.equal(isDeviceEntry({ key: 'm/inbox', val: packMuteStamp(1, true) }), true);
    assert.equal(isDeviceEntry({ key: 'm/inbox', val: 1 }), false);
    assert.equal(isDeviceEntry({ key: 'inbox', val: -1 }), false);
    assert.equal(isDeviceEntry({ key: 'a/b', val: 1 }), false);
  });

  test('[DOC-10] an entry is a plain object with exactly the own properties key (string) and val (number)', () => {
    assert.equal(isEntry({ key: 't', val: 1 }), true);
    assert.equal(isEntry(Object.assign(Object.create(null), { key: 't', val: 1 })), true);
    class Boxed {
      key = 't';
      val = 1;
    }
    const inherited = Object.create({ key: 't' });
    inherited.val = 1;
    inherited.other = 2;
    for (const value of [
      { key: 't' },
      { val: 1 },
      { key: 't', val: 1, extra: 0 },
      { key: 1, val: 1 },
      { key: 't', val: '1' },
      { key: 't', val: 1, [Symbol('s')]: 1 },
      new Boxed(),
      inherited,
      [1, 2],
      null,
      't',
      1,
    ]) {
      assert.equal(isEntry(value), false, String(value));
    }
  });

  test('[DOC-10] an entry survives the Yjs encoding as a plain object', () => {
    const doc = new Y.Doc();
    doc.getArray<Entry>('v2/device/a').push([{ key: 't', val: packMarker(3, 4) }]);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
    const [entry] = replica.getArray<Entry>('v2/device/a').toArray();
    assert.equal(isEntry(entry), true);
    assert.equal(isDeviceEntry(entry), true);
  });

  test('[DOC-11] a mute stamp is counter × 2 + muted, counter ≥ 1; MAX_MUTE_LEAD is 16', () => {
    assert.equal(packMuteStamp(1, true), 3);
    assert.equal(packMuteStamp(1, false), 2);
    assert.deepEqual(unpackMuteStamp(7), { counter: 3, muted: true });
    assert.deepEqual(unpackMuteStamp(packMuteStamp(MAX_MUTE_COUNTER, true)), {
      counter: MAX_MUTE_COUNTER,
      muted: true,
    });
    assert.equal(packMuteStamp(MAX_MUTE_COUNTER, true), Number.MAX_SAFE_INTEGER);
    assert.equal(MAX_MUTE_LEAD, 16);
    for (const value of [2, 3, Number.MAX_SAFE_INTEGER]) assert.equal(isMuteStamp(value), true, String(value));
    for (const value of [0, 1, -3, 2.5, 2 ** 53, Number.NaN, '3', null])
      assert.equal(isMuteStamp(value), false, String(value));
    // A larger counter wins whatever the bit; at an equal counter, muted wins.
    assert.ok(packMuteStamp(3, false) > packMuteStamp(2, true));
    assert.ok(packMuteStamp(2, true) > packMuteStamp(2, false));
  });

  test('[DOC-12] v1’s root names are kept apart from v2’s', () => {
    assert.deepEqual([...V1_ROOTS].sort(), ['heads', 'mutes', 'reads']);
    for (const name of V1_ROOTS) assert.equal(isV2Root(name), false);
  });

  test('[DOC-13] set deletes every live entry of the key in the writer’s array, duplicates included, and pushes one', () => {
    const one = new Y.Doc();
    const two = new Y.Doc();
    const root = deviceRoot('phone' as DeviceId);
    new KeyValueArray(one, root).set('t', 4);
    new KeyValueArray(two, root).set('t', 6);
    new KeyValueArray(two, root).set('u', 1);
    syncPair(one, two);
    const values = (doc: Y.Doc) => doc.getArray<Entry>(root).toArray();
    assert.equal(values(one).filter((e) => e.key === 't').length, 2);
    let transactions = 0;
    one.on('afterTransaction', () => transactions++);
    new KeyValueArray(one, root).set('t', 7);
    assert.equal(transactions, 1);
    assert.deepEqual(
      values(one).filter((e) => e.key === 't'),
      [{ key: 't', val: 7 }],
    );
    assert.deepEqual(
      values(one).filter((e) => e.key === 'u'),
      [{ key: 'u', val: 1 }],
    );
    // Inside a caller's transaction it joins it.
    one.transact(() => {
      new KeyValueArray(one, root).set('u', 2);
      new KeyValueArray(one, root).set('v', 3);
    });
    assert.equal(transactions, 2);
    syncPair(one, two);
    assert.deepEqual(values(two), values(one));
  });

  test('[DOC-13] a writer’s deleted entries merge into runs: its state stays small however often it sets', () => {
    const doc = new Y.Doc();
    const kv = new KeyValueArray(doc, deviceRoot('phone' as DeviceId));
    for (let i = 1; i <= 2000; i++) kv.set(`t${i % 5}`, i);
    const bytes = Y.encodeStateAsUpdate(doc).byteLength;
    assert.ok(bytes < 1000, `state is ${bytes} bytes after 2,000 sets`);
    assert.equal(doc.getArray(deviceRoot('phone' as DeviceId)).length, 5);
  });

  test('[DOC-14] packMarker and unpackMarker round-trip every epoch and seq', () => {
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

  test('[DOC-14] marker order is (epoch, seq) order: any newer epoch beats any seq of an older one', () => {
    fc.assert(
      fc.property(epochs, seqs, epochs, seqs, (e1, s1, e2, s2) => {
        const byNumber = Math.sign(packMarker(e1, s1) - packMarker(e2, s2));
        const byPair = e1 !== e2 ? Math.sign(e1 - e2) : Math.sign(s1 - s2);
        assert.equal(byNumber, byPair);
      }),
      propertyParams('schema order', 500),
    );
  });

  test('[DOC-14] isMarkerValue accepts exact non-negative integers with epoch ≤ MAX_EPOCH, nothing else', () => {
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
});
