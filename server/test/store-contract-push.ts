/** Push state per phone (APNs token): delivered badges and the outbox (SPEC STORE-8): part of the store contract suite. */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import type { OutboxEntry, Store } from '../src/store/index.js';
import { nextDueAt } from './store-contract-fixtures.js';

function entry(token: string, badge: number, dueAt: number, extra: Partial<OutboxEntry> = {}): OutboxEntry {
  return { token, badge, changedAt: dueAt - 10, dueAt, attempts: 0, parked: false, ...extra };
}

const D1 = 'a1'.repeat(32);
const D2 = 'b2'.repeat(32);
const devices = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6'];
type Six = [string, string, string, string, string, string];

export function storePushContract(getStore: () => Store): void {
  test('[STORE-8] the last delivered badge per token; 0 is a value', async () => {
    const store = getStore();
    assert.equal(await store.getDelivered(D1), null);
    await store.setDelivered(D1, 5, 100);
    await store.setDelivered(D1, 0, 200);
    assert.equal(await store.getDelivered(D1), 0);
    assert.equal(await store.getDelivered(D2), null);
    await assert.rejects(store.setDelivered(D2, -1, 100), TypeError);
    assert.equal(await store.getDelivered(D2), null);
    await store.setDelivered(D2, 7, 300);
    await store.clearDelivered(D1);
    assert.equal(await store.getDelivered(D1), null, 'cleared');
    assert.equal(await store.getDelivered(D2), 7, 'other tokens keep theirs');
    await store.clearDelivered(D1);
  });

  test("[STORE-8] enqueue replaces the token's pending badge", async () => {
    const store = getStore();
    assert.equal(await store.getPush(D1), null);
    await store.enqueuePush(entry(D1, 3, 100, { attempts: 2 }));
    await store.enqueuePush(entry(D1, 4, 150));
    assert.deepEqual(await store.getPush(D1), entry(D1, 4, 150));
    assert.deepEqual(await store.countPushes(), { pending: 1, parked: 0 });
  });

  test('[STORE-8] removePush removes only an entry that still carries the badge', async () => {
    const store = getStore();
    await store.enqueuePush(entry(D1, 4, 100));
    await store.removePush(D1, 3);
    assert.deepEqual(await store.getPush(D1), entry(D1, 4, 100));
    await store.removePush(D1, 4);
    assert.equal(await store.getPush(D1), null);
    await store.removePush(D2, 0);
    assert.deepEqual(await store.countPushes(), { pending: 0, parked: 0 });
  });

  test('[STORE-8] duePushes: due ones only, oldest first, ties by token, at most `limit`, parked excluded', async () => {
    const store = getStore();
    const [d1, d2, d3, d4, d5, d6] = devices as Six;
    await store.enqueuePush(entry(d1, 1, 300));
    await store.enqueuePush(entry(d3, 3, 200));
    await store.enqueuePush(entry(d2, 2, 100));
    await store.enqueuePush(entry(d6, 6, 100));
    await store.enqueuePush(entry(d4, 4, 50, { parked: true, attempts: 8 }));
    await store.enqueuePush(entry(d5, 5, 1_000));
    const due = async (now: number, limit: number) => (await store.duePushes(now, limit)).map((e) => e.token);
    assert.deepEqual(await due(300, 10), [d2, d6, d3, d1]);
    assert.deepEqual(await due(300, 2), [d2, d6]);
    assert.deepEqual(await due(99, 10), []);
    assert.deepEqual(await due(300, 0), []);
    assert.deepEqual(await store.duePushes(100, 1), [entry(d2, 2, 100)]);
  });

  test('[STORE-8] the due outbox and countPushes tell parked entries apart', async () => {
    const store = getStore();
    const [d1, d2] = devices as [string, string];
    assert.equal(await nextDueAt(store), null);
    await store.enqueuePush(entry(d1, 1, 50, { parked: true }));
    assert.equal(await nextDueAt(store), null);
    await store.enqueuePush(entry(d2, 2, 300));
    assert.equal(await nextDueAt(store), 300);
    assert.deepEqual(await store.countPushes(), { pending: 1, parked: 1 });
    // Reviving a parked entry (e.g. after the provider key is fixed) makes it due again.
    await store.enqueuePush(entry(d1, 1, 50));
    assert.equal(await nextDueAt(store), 50);
    assert.deepEqual(await store.countPushes(), { pending: 2, parked: 0 });
  });

  test('[STORE-8] a bad outbox entry is refused', async () => {
    const store = getStore();
    await assert.rejects(store.enqueuePush(entry(D1, -1, 100)), TypeError);
    await assert.rejects(store.enqueuePush(entry(D1, 1, Number.NaN)), TypeError);
    await assert.rejects(store.enqueuePush(entry(D1, 1, 100, { attempts: 0.5 })), TypeError);
    await assert.rejects(store.enqueuePush(entry('not-hex', 1, 100)), TypeError);
    await assert.rejects(store.enqueuePush(entry(D1.toUpperCase(), 1, 100)), TypeError, 'tokens are stored lower-case');
    await assert.rejects(store.setDelivered('', 1, 100), TypeError);
    assert.equal(await store.getPush(D1), null);
  });
}
