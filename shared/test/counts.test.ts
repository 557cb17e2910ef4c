import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  type AccountCounts,
  type CountsChange,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceBadge,
  deviceRoot,
  EMPTY_COUNTS,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  packMarker,
  packMuteStamp,
  SERVER_DEVICE,
  type ThreadId,
  unreadOf,
} from '../src/index.js';
import { syncPair } from './helpers/v2-mesh.js';

const T = (s: string) => s as ThreadId;
const D = (s: string) => s as DeviceId;
const mute = (counter: number, muted: boolean) => packMuteStamp(counter, muted);

/** Pushes raw values (well formed or not) to a root, in one transaction each call. */
function push(doc: Y.Doc, root: string, ...values: unknown[]): void {
  doc.getArray<unknown>(root).push(values);
}

/**
 * A document with the given heads and device arrays. A device's key maps to one value or to
 * several (live duplicates, as concurrent sessions of one device leave them).
 */
function docWith(heads: Record<string, unknown>, devices: Record<string, Record<string, unknown>> = {}): Y.Doc {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const [key, val] of Object.entries(heads)) push(doc, HEADS_ROOT, { key, val });
    for (const [device, entries] of Object.entries(devices)) {
      for (const [key, vals] of Object.entries(entries)) {
        for (const val of Array.isArray(vals) ? vals : [vals]) push(doc, deviceRoot(D(device)), { key, val });
      }
    }
  });
  return doc;
}

/** Deletes every live entry of `key` with value `val` in `root`. */
function deleteEntry(doc: Y.Doc, root: string, key: string, val: number): void {
  const array = doc.getArray<Entry>(root);
  doc.transact(() => {
    for (let i = array.length - 1; i >= 0; i--) {
      const entry = array.get(i);
      if (entry.key === key && entry.val === val) array.delete(i, 1);
    }
  });
}

describe('counts', () => {
  test('[COUNT-10] m(t) is the largest live marker over all device arrays, @server included', () => {
    const doc = docWith({ t: 10 }, { a: { t: 3 }, b: { t: 7 }, [SERVER_DEVICE]: { t: 5 } });
    assert.equal(deriveCounts(doc).threads.t, 3);
    const served = docWith({ t: 10 }, { a: { t: 3 }, [SERVER_DEVICE]: { t: 9 } });
    assert.equal(deriveCounts(served).threads.t, 1);
  });

  test('[COUNT-10] a device’s marker is the largest of its live entries of the key: duplicates are legal', () => {
    const doc = docWith({ t: 10 }, { a: { t: [6, 2, 4] } });
    assert.equal(deriveCounts(doc).threads.t, 4);
    deleteEntry(doc, deviceRoot(D('a')), 't', 6);
    assert.equal(deriveCounts(doc).threads.t, 6);
  });

  test('[COUNT-10] deleted entries do not count; a thread whose head entries are all deleted has no head', () => {
    const doc = docWith({ t: 10, u: 4 }, { a: { t: 8 } });
    deleteEntry(doc, deviceRoot(D('a')), 't', 8);
    deleteEntry(doc, HEADS_ROOT, 'u', 4);
    assert.deepEqual(deriveCounts(doc), { badge: 10, threads: { t: 10 }, muted: [] });
  });

  test('[COUNT-10] head(t) is the largest live heads entry of t', () => {
    const doc = docWith({}, {});
    push(doc, HEADS_ROOT, { key: 't', val: 4 }, { key: 't', val: 9 }, { key: 't', val: 6 });
    assert.deepEqual(deriveCounts(doc).threads, { t: 9 });
  });

  test('[COUNT-10] entries that are not well formed, and anything outside the v2 arrays, are ignored', () => {
    const doc = docWith({ t: 10 });
    const a = deviceRoot(D('a'));
    push(doc, a, { key: 't', val: -4 }, { key: 't', val: 1.5 }, { key: 't', val: '9' }, { key: 't' });
    push(doc, a, { key: 't', val: 9, extra: 1 }, { key: 'a/b', val: 9 }, { key: 'bad key', val: 9 }, 9, 't', null);
    push(doc, a, { key: 'm/t', val: 1 }, { key: 'm/t', val: 0 }, { key: 'm/', val: 3 }, [{ key: 't', val: 9 }]);
    push(doc, a, new Y.Map(), new Y.Array());
    push(doc, HEADS_ROOT, { key: 'u', val: -1 }, { key: 'v', val: 2 ** 32 }, { key: 'm/t', val: 3 }, { key: 'w' });
    push(doc, 'v2/device/bad id', { key: 't', val: 9 });
    push(doc, 'v2/device/', { key: 't', val: 9 });
    push(doc, 'v2/devices/a', { key: 't', val: 9 });
    push(doc, 'other', { key: 't', val: 9 });
    doc.getMap('reads').set('t/a', 9);
    doc.getMap('mutes').set('t', true);
    // A map entry in a v2 root (a key, parentSub ≠ null), received from another replica.
    const stray = new Y.Doc();
    stray.getMap(deviceRoot(D('b'))).set('t', { key: 't', val: 9 });
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(stray));
    assert.deepEqual(deriveCounts(doc), { badge: 10, threads: { t: 10 }, muted: [] });
    assert.deepEqual(new CountsTracker(doc).counts(), deriveCounts(doc));
  });

  test('[COUNT-10] a root a remote update created reads the same before and after the application asks for it', () => {
    const source = docWith({ t: 10 }, { a: { t: 4, 'm/t': mute(1, true) } });
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(source));
    assert.equal(doc.share.get(deviceRoot(D('a')))?.constructor, Y.AbstractType);
    const expected = { badge: 0, threads: { t: 6 }, muted: ['t'] };
    assert.deepEqual(deriveCounts(doc), expected);
    doc.getArray(deviceRoot(D('a')));
    assert.deepEqual(deriveCounts(doc), expected);
  });

  test('[COUNT-2] read(t) = m(t) mod 2^32; unread(t) = max(0, head − read)', () => {
    assert.equal(unreadOf(10, 4), 6);
    assert.equal(unreadOf(10, 12), 0);
    assert.equal(unreadOf(10, packMarker(3, 4)), 6);
    assert.equal(unreadOf(0, 0), 0);
    // A mark-as-unread from item 2 in epoch 1 beats a read to 9 in epoch 0.
    const doc = docWith({ t: 10 }, { a: { t: packMarker(0, 9) }, b: { t: packMarker(1, 1) } });
    assert.equal(deriveCounts(doc).threads.t, 9);
  });

  test('[COUNT-3] threads lists every thread with a head, muted ones included, none without a head', () => {
    const doc = docWith({ a: 3, b: 0, c: 5 }, { x: { a: 3, z: 4, 'm/c': mute(1, true), 'm/z': mute(1, true) } });
    const counts = deriveCounts(doc);
    assert.deepEqual(counts.threads, { a: 0, b: 0, c: 5 });
    assert.deepEqual(Object.keys(counts.threads), ['a', 'b', 'c']);
  });

  test('[COUNT-4] the badge sums the unread of threads that are not muted', () => {
    const doc = docWith({ a: 3, b: 4, c: 5 }, { x: { a: 1, 'm/c': mute(1, true), 'm/b': mute(1, false) } });
    assert.equal(deriveCounts(doc).badge, 2 + 4);
  });

  test('[COUNT-5] muted threads are listed sorted, whether or not they have a head', () => {
    const doc = docWith({ b: 1 }, { x: { 'm/z': mute(1, true), 'm/b': mute(2, true), 'm/a': mute(1, true) } });
    push(doc, deviceRoot(D('y')), { key: 'm/c', val: mute(1, false) });
    const counts = deriveCounts(doc);
    assert.deepEqual(counts.muted, ['a', 'b', 'z']);
    assert.equal(counts.badge, 0);
  });

  test('[COUNT-11] t is muted iff S(t), the largest live stamp over all devices, is odd', () => {
    const cases: Array<[Record<string, Record<string, unknown>>, boolean]> = [
      [{ x: { 'm/t': mute(1, true) } }, true],
      [{ x: { 'm/t': mute(1, true) }, y: { 'm/t': mute(2, false) } }, false], // larger counter wins
      [{ x: { 'm/t': mute(3, true) }, y: { 'm/t': mute(2, false) } }, true],
      [{ x: { 'm/t': mute(2, false) }, y: { 'm/t': mute(2, true) } }, true], // equal counter: muted wins
      [{ x: { 'm/t': [mute(2, false), mute(1, true)] } }, false], // duplicates of one device: the largest
      [{ [SERVER_DEVICE]: { 'm/t': mute(1, true) }, y: { 'm/t': mute(1, false) } }, true],
      [{}, false],
    ];
    for (const [devices, muted] of cases) {
      const doc = docWith({ t: 4 }, devices);
      assert.deepEqual(deriveCounts(doc).muted, muted ? ['t'] : [], JSON.stringify(devices));
      assert.equal(deriveCounts(doc).badge, muted ? 0 : 4);
    }
  });

  test('[COUNT-6] a device badge is the sum of its accounts’ badges', () => {
    assert.equal(deviceBadge([]), 0);
    assert.equal(deviceBadge([3, 0, 4]), 7);
    assert.equal(deviceBadge(new Set([2, 5])), 7);
  });

  test('an empty document has the empty counts', () => {
    assert.deepEqual(deriveCounts(new Y.Doc()), EMPTY_COUNTS);
    assert.equal(Object.isFrozen(EMPTY_COUNTS), true);
  });
});

describe('CountsTracker', () => {
  function follow(doc: Y.Doc): { tracker: CountsTracker; changes: CountsChange[]; check: () => void } {
    const tracker = new CountsTracker(doc);
    const changes: CountsChange[] = [];
    tracker.onChange((change) => changes.push(change));
    const check = () => assert.deepEqual(tracker.counts(), deriveCounts(doc));
    return { tracker, changes, check };
  }

  test('[COUNT-7] starts from an existing document with the counts deriveCounts gives', () => {
    const doc = docWith(
      { a: 5, b: 3, c: 2 },
      { x: { a: 2, b: 3, 'm/c': mute(1, true) }, y: { a: packMarker(1, 1), 'm/q': mute(1, true) } },
    );
    const { tracker, check } = follow(doc);
    check();
    assert.equal(tracker.badge, 4);
    assert.equal(tracker.unread(T('a')), 4);
    assert.equal(tracker.head(T('a')), 5);
    assert.equal(tracker.head(T('nope')), 0);
    assert.equal(tracker.maxMarker(T('a')), packMarker(1, 1));
    assert.deepEqual([...tracker.markers(T('a'))].sort(), [
      ['x', 2],
      ['y', packMarker(1, 1)],
    ]);
    assert.equal(tracker.markers(T('none')).size, 0);
    assert.equal(tracker.isMuted(T('c')), true);
    assert.equal(tracker.isMuted(T('q')), true);
    assert.deepEqual([...tracker.threadsWithHead()].sort(), ['a', 'b', 'c']);
  });

  test('[COUNT-7] follows each transaction and reports the threads that changed, with the badge before and after', () => {
    const doc = docWith({ a: 5, b: 3 });
    const { changes, check } = follow(doc);
    const heads = new KeyValueArray(doc, HEADS_ROOT);
    const x = new KeyValueArray(doc, deviceRoot(D('x')));
    x.set('a', 2);
    check();
    assert.deepEqual(changes.at(-1), { threads: ['a'], badge: 6, previousBadge: 8 });
    doc.transact(() => {
      heads.set('b', 4);
      x.set(muteKey(T('a')), mute(1, true));
    });
    check();
    assert.deepEqual(
      { ...changes.at(-1), threads: [...(changes.at(-1)?.threads ?? [])].sort() },
      { threads: ['a', 'b'], badge: 4, previousBadge: 6 },
    );
    deleteEntry(doc, HEADS_ROOT, 'b', 4);
    check();
    assert.deepEqual(changes.at(-1), { threads: ['b'], badge: 0, previousBadge: 4 });
  });

  test('[COUNT-7] a transaction that changes no count calls no listener', () => {
    const doc = docWith({ a: 5 }, { x: { a: 5 } });
    const { changes, check } = follow(doc);
    new KeyValueArray(doc, deviceRoot(D('y'))).set('a', 3); // below the max: nothing changes
    push(doc, 'other', { key: 'a', val: 0 });
    push(doc, deviceRoot(D('y')), { key: 'a', val: 'x' });
    check();
    assert.equal(changes.length, 0);
  });

  test('[COUNT-7] a mute change is reported, for threads with and without a head, muted before the tracker or not', () => {
    const doc = docWith({ a: 5 }, { x: { 'm/a': mute(1, true), 'm/q': mute(1, true) } });
    const { changes, check } = follow(doc);
    const x = new KeyValueArray(doc, deviceRoot(D('x')));
    for (const [thread, stamp] of [
      ['q', mute(2, false)],
      ['q', mute(3, true)],
      ['r', mute(1, true)],
      ['a', mute(2, false)],
    ] as const) {
      const before = changes.length;
      x.set(muteKey(T(thread)), stamp);
      check();
      assert.equal(changes.length, before + 1, `${thread} = ${stamp} not reported`);
      assert.deepEqual(changes.at(-1)?.threads, [thread]);
    }
  });

  test('[COUNT-7] follows remote updates, and stops after destroy', () => {
    const source = docWith({ a: 5 });
    const doc = new Y.Doc();
    const { tracker, changes, check } = follow(doc);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(source));
    check();
    assert.equal(tracker.badge, 5);
    const unsubscribe = tracker.onChange(() => assert.fail('unsubscribed listener called'));
    unsubscribe();
    tracker.destroy();
    const seen = changes.length;
    new KeyValueArray(doc, HEADS_ROOT).set('a', 9);
    assert.equal(changes.length, seen);
    assert.equal(tracker.badge, 5);
  });

  test('[COUNT-7] counts() returns sorted, fresh objects equal to deriveCounts', () => {
    const doc = docWith({ z: 1, a: 2, m: 3 }, { x: { 'm/m': mute(1, true) } });
    const { tracker } = follow(doc);
    const counts: AccountCounts = tracker.counts();
    assert.deepEqual(Object.keys(counts.threads), ['a', 'm', 'z']);
    assert.deepEqual(counts, deriveCounts(doc));
    assert.notEqual(tracker.counts(), counts);
    assert.deepEqual(tracker.countsOf([T('m'), T('a'), T('none')]), {
      badge: 3,
      threads: { a: 2, m: 3 },
      muted: ['m'],
    });
  });

  test('[COUNT-12] concurrent sessions of one device: both entries live, the larger counts, the next set replaces both', () => {
    const one = new Y.Doc();
    const two = new Y.Doc();
    Y.applyUpdate(one, Y.encodeStateAsUpdate(docWith({ t: 10 })));
    syncPair(one, two);
    const tracker = new CountsTracker(one);
    new KeyValueArray(one, deviceRoot(D('a'))).set('t', 7);
    new KeyValueArray(two, deviceRoot(D('a'))).set('t', 4);
    syncPair(one, two);
    assert.deepEqual(
      tracker
        .liveEntries(D('a'), 't')
        .map((e) => e.val)
        .sort(),
      [4, 7],
    );
    assert.equal(tracker.markers(T('t')).get(D('a')), 7);
    assert.equal(tracker.markerKeyCount, 1);
    assert.equal(tracker.unread(T('t')), 3);
    new KeyValueArray(two, deviceRoot(D('a'))).set('t', 8);
    syncPair(one, two);
    assert.deepEqual(
      tracker.liveEntries(D('a'), 't').map((e) => e.val),
      [8],
    );
    assert.equal(tracker.unread(T('t')), 2);
    assert.deepEqual(tracker.counts(), deriveCounts(one));
  });

  test('[COUNT-12] deleting part of an item (Yjs splits it) keeps the other entries of the item live', () => {
    const doc = new Y.Doc();
    const tracker = new CountsTracker(doc);
    const root = deviceRoot(D('a'));
    push(doc, HEADS_ROOT, { key: 't', val: 10 }, { key: 'u', val: 10 }, { key: 'v', val: 10 });
    push(doc, root, { key: 't', val: 1 }, { key: 'u', val: 2 }, { key: 'v', val: 3 });
    doc.getArray(root).delete(1, 1);
    assert.deepEqual(tracker.counts(), deriveCounts(doc));
    assert.deepEqual(tracker.counts().threads, { t: 9, u: 10, v: 7 });
    doc.getArray(HEADS_ROOT).delete(0, 2);
    assert.deepEqual(tracker.counts(), { badge: 7, threads: { v: 7 }, muted: [] });
    assert.equal(tracker.markerKeyCount, 2);
  });

  test('[COUNT-12] entries inserted and deleted in one transaction leave nothing behind', () => {
    const doc = docWith({ t: 5 });
    const { tracker, changes, check } = follow(doc);
    doc.transact(() => {
      push(doc, deviceRoot(D('a')), { key: 't', val: 5 }, { key: 'm/t', val: mute(1, true) });
      doc.getArray(deviceRoot(D('a'))).delete(0, 2);
    });
    check();
    assert.equal(changes.length, 0);
    assert.equal(tracker.markerKeyCount, 0);
    assert.equal(tracker.muteThreadCount, 0);
    assert.deepEqual(tracker.liveEntries(D('a'), 't'), []);
  });

  test('[COUNT-12] the same entry object pushed twice counts until both are deleted', () => {
    const doc = docWith({ t: 5 });
    const { tracker, check } = follow(doc);
    const entry = { key: 't', val: 3 };
    push(doc, deviceRoot(D('a')), entry, entry);
    doc.getArray(deviceRoot(D('a'))).delete(0, 1);
    check();
    assert.equal(tracker.unread(T('t')), 2);
    assert.equal(tracker.liveEntries(D('a'), 't').length, 1);
    doc.getArray(deviceRoot(D('a'))).delete(0, 1);
    check();
    assert.equal(tracker.unread(T('t')), 5);
  });

  test('[COUNT-12] a root that first came as a plain type from a remote update, then is asked for as an array', () => {
    const source = new Y.Doc();
    const doc = new Y.Doc();
    const { tracker, check } = follow(doc);
    new KeyValueArray(source, HEADS_ROOT).set('t', 10);
    new KeyValueArray(source, deviceRoot(D('a'))).set('t', 4);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(source));
    check();
    // The application asks for the array: Yjs swaps the root's type object in doc.share.
    const array = doc.getArray<Entry>(deviceRoot(D('a')));
    array.delete(0, 1);
    check();
    assert.equal(tracker.unread(T('t')), 10);
    new KeyValueArray(source, deviceRoot(D('a'))).set('t', 6);
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(source, Y.encodeStateVector(doc)));
    check();
    assert.equal(tracker.unread(T('t')), 4);
  });

  test('[COUNT-12] mutes from several devices, toggled concurrently: S(t) and each device’s stamp', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    const tracker = new CountsTracker(a);
    new KeyValueArray(a, deviceRoot(D('x'))).set(muteKey(T('t')), mute(1, true));
    syncPair(a, b);
    // Both unmute and re-mute concurrently at counter 2: muted wins the tie.
    new KeyValueArray(a, deviceRoot(D('x'))).set(muteKey(T('t')), mute(2, false));
    new KeyValueArray(b, deviceRoot(D('y'))).set(muteKey(T('t')), mute(2, true));
    syncPair(a, b);
    assert.equal(tracker.muteStamp(T('t')), mute(2, true));
    assert.deepEqual([...tracker.muteStamps(T('t'))].sort(), [
      ['x', mute(2, false)],
      ['y', mute(2, true)],
    ]);
    assert.equal(tracker.isMuted(T('t')), true);
    assert.equal(tracker.muteThreadCount, 1);
    assert.deepEqual(tracker.counts(), deriveCounts(a));
    new KeyValueArray(a, deviceRoot(D('x'))).set(muteKey(T('t')), mute(3, false));
    assert.equal(tracker.isMuted(T('t')), false);
    assert.deepEqual(tracker.counts(), deriveCounts(a));
  });

  test('[COUNT-12] budget figures: live marker keys over all devices, threads with a live mute entry', () => {
    const doc = docWith(
      { t: 5 },
      { a: { t: [1, 2], u: 3, 'm/t': mute(1, true) }, b: { t: 1, 'm/t': mute(1, false), 'm/v': mute(2, false) } },
    );
    const tracker = new CountsTracker(doc);
    assert.equal(tracker.markerKeyCount, 3); // (t,a) (u,a) (t,b)
    assert.equal(tracker.muteThreadCount, 2); // t, v
    assert.equal(tracker.threadCount, 1);
    deleteEntry(doc, deviceRoot(D('a')), 'u', 3);
    deleteEntry(doc, deviceRoot(D('b')), 'm/v', mute(2, false));
    assert.equal(tracker.markerKeyCount, 2);
    assert.equal(tracker.muteThreadCount, 1);
  });
});
