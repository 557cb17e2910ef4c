/** Push state per phone (APNs token): delivered badges and the outbox (SPEC STORE-8): part of the store contract suite. */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import type { OutboxEntry, SyncStore } from '../src/store/index.js';
import { nextDueAt } from './store-fixtures.js';

function entry(token: string, badge: number, dueAt: number, extra: Partial<OutboxEntry> = {}): OutboxEntry {
  return { token, badge, changedAt: dueAt - 10, dueAt, attempts: 0, parked: false, ...extra };
}

const D1 = 'a1'.repeat(32);
const D2 = 'b2'.repeat(32);
const devices = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
type Six = [string, string, string, string, string, string];

export function storePushContract(getStore: () => SyncStore): void {
  test('[STORE-8] the last delivered badge per token; 0 is a value', () => {
    const store = getStore();
    assert.equal(store.getDelivered(D1), null);
    store.setDelivered(D1, 5, 100);
    store.setDelivered(D1, 0, 200);
    assert.equal(store.getDelivered(D1), 0);
    assert.equal(store.getDelivered(D2), null);
    assert.throws(() => store.setDelivered(D2, -1, 100), TypeError);
    assert.equal(store.getDelivered(D2), null);
    store.setDelivered(D2, 7, 300);
    store.clearDelivered(D1);
    assert.equal(store.getDelivered(D1), null, 'cleared');
    assert.equal(store.getDelivered(D2), 7, 'other tokens keep theirs');
    store.clearDelivered(D1);
  });

  test("[STORE-8] enqueue replaces the token's pending badge", () => {
    const store = getStore();
    assert.equal(store.getPush(D1), null);
    store.enqueuePush(entry(D1, 3, 100, { attempts: 2 }));
    store.enqueuePush(entry(D1, 4, 150));
    assert.deepEqual(store.getPush(D1), entry(D1, 4, 150));
    assert.deepEqual(store.countPushes(), { pending: 1, parked: 0 });
  });

  test('[STORE-8] removePush removes only an entry that still carries the badge', () => {
    const store = getStore();
    store.enqueuePush(entry(D1, 4, 100));
    store.removePush(D1, 3);
    assert.deepEqual(store.getPush(D1), entry(D1, 4, 100));
    store.removePush(D1, 4);
    assert.equal(store.getPush(D1), null);
    store.removePush(D2, 0);
    assert.deepEqual(store.countPushes(), { pending: 0, parked: 0 });
  });

  test('[STORE-8] duePushes: due ones only, oldest first, ties by token, at most `limit`, parked excluded', () => {
    const store = getStore();
    const [d1, d2, d3, d4, d5, d6] = devices as Six;
    store.enqueuePush(entry(d1, 1, 300));
    store.enqueuePush(entry(d3, 3, 200));
    store.enqueuePush(entry(d2, 2, 100));
    store.enqueuePush(entry(d6, 6, 100));
    store.enqueuePush(entry(d4, 4, 50, { parked: true, attempts: 8 }));
    store.enqueuePush(entry(d5, 5, 1_000));
    const due = (now: number, limit: number) => store.duePushes(now, limit).map((e) => e.token);
    assert.deepEqual(due(300, 10), [d2, d6, d3, d1]);
    assert.deepEqual(due(300, 2), [d2, d6]);
    assert.deepEqual(due(99, 10), []);
    assert.deepEqual(due(300, 0), []);
    assert.deepEqual(store.duePushes(100, 1), [entry(d2, 2, 100)]);
  });

  test('[STORE-8] the due outbox and countPushes tell parked entries apart', () => {
    const store = getStore();
    const [d1, d2] = devices as [string, string];
    assert.equal(nextDueAt(store), null);
    store.enqueuePush(entry(d1, 1, 50, { parked: true }));
    assert.equal(nextDueAt(store), null);
    store.enqueuePush(entry(d2, 2, 300));
    assert.equal(nextDueAt(store), 300);
    assert.deepEqual(store.countPushes(), { pending: 1, parked: 1 });
    // Reviving a parked entry (e.g. after the provider key is fixed) makes it due again.
    store.enqueuePush(entry(d1, 1, 50));
    assert.equal(nextDueAt(store), 50);
    assert.deepEqual(store.countPushes(), { pending: 2, parked: 0 });
  });

  test('[STORE-8] a bad outbox entry is refused', () => {
    const store = getStore();
    assert.throws(() => store.enqueuePush(entry(D1, -1, 100)), TypeError);
    assert.throws(() => store.enqueuePush(entry(D1, 1, Number.NaN)), TypeError);
    assert.throws(() => store.enqueuePush(entry(D1, 1, 100, { attempts: 0.5 })), TypeError);
    assert.throws(() => store.enqueuePush(entry('not-hex', 1, 100)), TypeError);
    assert.throws(() => store.enqueuePush(entry(D1.toUpperCase(), 1, 100)), TypeError, 'tokens are stored lower-case');
    assert.throws(() => store.setDelivered('', 1, 100), TypeError);
    assert.equal(store.getPush(D1), null);
  });
}
