import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  type AccountCounts,
  accountMaps,
  type CountsChange,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceBadge,
  EMPTY_COUNTS,
  packMarker,
  readsKey,
  type ThreadId,
  unreadOf,
} from '../src/index.js';

const T = (s: string) => s as ThreadId;
const D = (s: string) => s as DeviceId;

/** A document with the given heads, markers (thread/device → value) and mutes. */
function docWith(
  heads: Record<string, number>,
  reads: Record<string, unknown> = {},
  mutes: Record<string, unknown> = {},
): Y.Doc {
  const doc = new Y.Doc();
  const maps = accountMaps(doc);
  doc.transact(() => {
    for (const [k, v] of Object.entries(heads)) maps.heads.set(k, v);
    for (const [k, v] of Object.entries(reads)) (maps.reads as Y.Map<unknown>).set(k, v);
    for (const [k, v] of Object.entries(mutes)) (maps.mutes as Y.Map<unknown>).set(k, v);
  });
  return doc;
}

describe('counts', () => {
  test('[COUNT-1] m(t) is the largest marker over all devices of the thread', () => {
    const doc = docWith({ t: 10 }, { 't/a': 3, 't/b': 7, 't/@server': 5 });
    assert.equal(deriveCounts(doc).threads.t, 3);
  });

  test('[COUNT-1] keys and values the schema does not allow are ignored', () => {
    const doc = docWith(
      { t: 10, 'bad key': 4, u: -1 as number, v: 2.5 },
      { 't/a': 3, t: 9, 't/b/c': 9, 't/d': '9', 't/e': -4, 't/f': 1.5 },
      { 'x y': true, t2: 'yes' },
    );
    assert.deepEqual(deriveCounts(doc), { badge: 7, threads: { t: 7 }, muted: [] });
  });

  test('[COUNT-2] read(t) = m(t) mod 2^32; unread(t) = max(0, head − read)', () => {
    assert.equal(unreadOf(10, 4), 6);
    assert.equal(unreadOf(10, 12), 0);
    assert.equal(unreadOf(10, packMarker(3, 4)), 6);
    assert.equal(unreadOf(0, 0), 0);
    // A mark-as-unread from item 2 in epoch 1 beats a read to 9 in epoch 0.
    const doc = docWith({ t: 10 }, { 't/a': packMarker(0, 9), 't/b': packMarker(1, 1) });
    assert.equal(deriveCounts(doc).threads.t, 9);
  });

  test('[COUNT-3] threads lists every thread with a head, muted ones included, none without a head', () => {
    const doc = docWith({ a: 3, b: 0, c: 5 }, { 'a/x': 3, 'z/x': 4 }, { c: true, z: true });
    const counts = deriveCounts(doc);
    assert.deepEqual(counts.threads, { a: 0, b: 0, c: 5 });
    assert.deepEqual(Object.keys(counts.threads), ['a', 'b', 'c']);
  });

  test('[COUNT-4] the badge sums the unread of threads that are not muted', () => {
    const doc = docWith({ a: 3, b: 4, c: 5 }, { 'a/x': 1 }, { c: true, b: false });
    assert.equal(deriveCounts(doc).badge, 2 + 4);
  });

  test('[COUNT-5] muted threads are listed sorted, whether or not they have a head; false is not muted', () => {
    const doc = docWith({ b: 1 }, {}, { z: true, b: true, a: true, c: false });
    const counts = deriveCounts(doc);
    assert.deepEqual(counts.muted, ['a', 'b', 'z']);
    assert.equal(counts.badge, 0);
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
    const doc = docWith({ a: 5, b: 3, c: 2 }, { 'a/x': 2, 'a/y': packMarker(1, 1), 'b/x': 3 }, { c: true, q: true });
    const { tracker, check } = follow(doc);
    check();
    assert.equal(tracker.badge, 4);
    assert.equal(tracker.unread(T('a')), 4);
    assert.equal(tracker.head(T('a')), 5);
    assert.equal(tracker.head(T('nope')), 0);
    assert.equal(tracker.maxMarker(T('a')), packMarker(1, 1));
    assert.deepEqual(
      [...tracker.markers(T('a'))],
      [
        ['x', 2],
        ['y', packMarker(1, 1)],
      ],
    );
    assert.equal(tracker.markers(T('none')).size, 0);
    assert.equal(tracker.isMuted(T('c')), true);
    assert.deepEqual([...tracker.threadsWithHead()].sort(), ['a', 'b', 'c']);
  });

  test('[COUNT-7] follows each transaction and reports the threads that changed, with the badge before and after', () => {
    const doc = docWith({ a: 5, b: 3 });
    const { changes, check } = follow(doc);
    const { heads, reads, mutes } = accountMaps(doc);
    reads.set(readsKey(T('a'), D('x')), 2);
    check();
    assert.deepEqual(changes.at(-1), { threads: ['a'], badge: 6, previousBadge: 8 });
    doc.transact(() => {
      heads.set('b', 4);
      mutes.set('a', true);
    });
    check();
    assert.deepEqual(
      { ...changes.at(-1), threads: [...(changes.at(-1)?.threads ?? [])].sort() },
      { threads: ['a', 'b'], badge: 4, previousBadge: 6 },
    );
    heads.delete('b');
    check();
    assert.deepEqual(changes.at(-1), { threads: ['b'], badge: 0, previousBadge: 4 });
  });

  test('[COUNT-7] a transaction that changes no count calls no listener', () => {
    const doc = docWith({ a: 5 }, { 'a/x': 5 });
    const { changes, check } = follow(doc);
    accountMaps(doc).reads.set(readsKey(T('a'), D('y')), 3); // below the max: nothing changes
    doc.getMap('other').set('k', 1);
    check();
    assert.equal(changes.length, 0);
  });

  test('[COUNT-7] a mute change is reported, for threads with and without a head, muted before the tracker or not', () => {
    const doc = docWith({ a: 5 }, {}, { a: true, q: true });
    const { changes, check } = follow(doc);
    const { mutes } = accountMaps(doc);
    for (const [thread, value] of [
      ['q', false],
      ['q', true],
      ['r', true],
      ['a', false],
    ] as const) {
      const before = changes.length;
      mutes.set(thread, value);
      check();
      assert.equal(changes.length, before + 1, `mutes[${thread}] = ${value} not reported`);
      assert.deepEqual(changes.at(-1)?.threads, [thread]);
    }
  });

  test('[COUNT-7] markers that go invalid or away are dropped from the max', () => {
    const doc = docWith({ a: 5 }, { 'a/x': 4, 'a/y': 2 });
    const { tracker, check } = follow(doc);
    const reads = accountMaps(doc).reads as Y.Map<unknown>;
    reads.set('a/x', 'four');
    check();
    assert.equal(tracker.maxMarker(T('a')), 2);
    doc.transact(() => {
      reads.delete('a/y');
      reads.delete('a/x');
    });
    check();
    assert.equal(tracker.maxMarker(T('a')), 0);
    assert.equal(tracker.markers(T('a')).size, 0);
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
    accountMaps(doc).heads.set('a', 9);
    assert.equal(changes.length, seen);
    assert.equal(tracker.badge, 5);
  });

  test('[COUNT-7] counts() returns sorted, fresh objects equal to deriveCounts', () => {
    const doc = docWith({ z: 1, a: 2, m: 3 }, {}, { m: true });
    const { tracker } = follow(doc);
    const counts: AccountCounts = tracker.counts();
    assert.deepEqual(Object.keys(counts.threads), ['a', 'm', 'z']);
    assert.deepEqual(counts, deriveCounts(doc));
    assert.notEqual(tracker.counts(), counts);
  });
});
