/**
 * Who is pushed what, when (SPEC PUSH-1..PUSH-6, invariant 5): coalescing, presence and the
 * grace period, the sum over accounts, pushes in flight. Answers from APNs and restarts are
 * in push-scheduler-outbox.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { A, B, counter, GRACE, PHONE, TOKEN, useScheduler, WINDOW } from './push-scheduler-harness.js';

describe('PushScheduler: who, what, when', () => {
  const context = useScheduler();

  test('[PUSH-5] one push per window, carrying the final value of the burst', async () => {
    const { h } = context;
    h.register(A, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    for (let badge = 1; badge <= 20; badge++) {
      h.change(A, badge);
      await h.advance(20);
    }
    await h.advance(WINDOW);
    // The burst spans 400 ms: the window opened by its first change closes after the last.
    assert.deepEqual(h.sender.badges(), [0, 20]);
    assert.equal(h.store.getDelivered(TOKEN), 20);
    assert.equal(h.store.getPush(TOKEN), null, 'outbox empty');
  });

  test('[PUSH-5] a change right after a push waits a whole window from that push', async () => {
    const { h } = context;
    h.register(A, PHONE);
    await h.advance(WINDOW);
    const first = h.sender.pushes[0]?.at ?? 0;
    h.change(A, 1);
    await h.advance(WINDOW - 20);
    assert.equal(h.sender.pushes.length, 1);
    await h.advance(40);
    assert.deepEqual(h.sender.badges(), [0, 1]);
    assert.ok((h.sender.pushes[1]?.at ?? 0) - first >= WINDOW);
  });

  test('[PUSH-2] the push carries the sum over the accounts the device is signed in to', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.register(B, PHONE);
    h.change(A, 2);
    h.change(B, 3);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5]);
    assert.equal(h.store.signOut(A, PHONE, Date.now()), true);
    h.scheduler.deviceSignedOut(A, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5, 3]);
  });

  test('[PUSH-3] online for the account that changed: no push; offline for another that changed: push', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.register(B, PHONE);
    await h.advance(WINDOW);
    h.goOnline(A, PHONE);
    h.change(A, 4);
    await h.advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    h.change(B, 1);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0, 5]);
  });

  test('[PUSH-3] queued, then online before the window closes: skipped and counted', async () => {
    const { h } = context;
    h.register(A, PHONE);
    await h.advance(WINDOW);
    h.change(A, 2);
    await h.advance(WINDOW / 2);
    h.goOnline(A, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    assert.equal(await counter(h.metrics.skipped), 1);
    assert.equal(h.store.getPush(TOKEN), null);
  });

  test('[PUSH-4] offline after the grace period: pushed; back within it: not', async () => {
    const { h } = context;
    h.goOnline(A, PHONE);
    h.register(A, PHONE);
    h.change(A, 3);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [], 'online: the device counts for itself');
    h.goOffline(A, PHONE);
    h.change(A, 4);
    await h.advance(GRACE - 100);
    assert.deepEqual(h.sender.badges(), [], 'within the grace period it still counts as online');
    h.goOnline(A, PHONE);
    await h.advance(2 * GRACE);
    assert.deepEqual(h.sender.badges(), [], 'reconnected within the grace period');
    h.goOffline(A, PHONE);
    await h.advance(GRACE + WINDOW);
    assert.deepEqual(h.sender.badges(), [4]);
  });

  test('[PUSH-5] counts change while a push is in flight: a second push, one window later, with the new value', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 1);
    h.sender.answer('hold');
    await h.advance(WINDOW);
    assert.equal(h.sender.holding, 1);
    h.change(A, 2);
    h.change(A, 3);
    await h.advance(3 * WINDOW);
    assert.equal(h.sender.pushes.length, 1, 'nothing else while the first is in flight');
    h.sender.release();
    await h.settle();
    const releasedAt = Date.now();
    assert.equal(h.store.getDelivered(TOKEN), 1);
    await h.advance(WINDOW - 20);
    assert.equal(h.sender.pushes.length, 1, 'the second waits a window');
    await h.advance(40);
    assert.deepEqual(h.sender.badges(), [1, 3]);
    assert.ok((h.sender.pushes[1]?.at ?? 0) - releasedAt >= WINDOW);
    assert.equal(h.store.getDelivered(TOKEN), 3);
  });

  test('[PUSH-5] a push in flight does not spin the scheduler (its entry, still due, is left to its settle)', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 1);
    h.sender.answer('hold');
    await h.advance(WINDOW);
    assert.equal(h.sender.holding, 1);
    const reads = h.reads;
    // Before the fix: a 0 ms timer re-armed for the in-flight entry, until the push settled.
    await h.advance(10 * WINDOW);
    assert.ok(h.reads - reads < 5, `${h.reads - reads} outbox reads while one push was held`);
    h.sender.release();
    await h.settle();
    assert.equal(h.store.getDelivered(TOKEN), 1);
  });

  test('[PUSH-6] no push when APNs already has the number', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 2);
    await h.advance(WINDOW);
    h.change(A, 3);
    h.change(A, 2);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2]);
    assert.equal(await counter(h.metrics.skipped), 1);
  });

  test('[PUSH-6] a fresh token (a reinstall) gets the current badge even when APNs had that number for the old one', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 2);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2]);
    h.register(A, PHONE, undefined, false);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2], 'the same token registered again: APNs has it');
    h.register(A, PHONE, 'ee'.repeat(32), true);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2, 2], 'a new token has been shown nothing yet');
  });

  test('[PUSH-1] no token, or badges off: never queued', async () => {
    const { h } = context;
    h.store.putDevice(A, PHONE, {}, Date.now());
    h.scheduler.deviceRegistered(A, PHONE, true);
    h.change(A, 1);
    await h.advance(2 * WINDOW);
    h.store.putDevice(A, PHONE, { apnsToken: 'cc'.repeat(32), badges: false }, Date.now());
    h.scheduler.deviceRegistered(A, PHONE, true);
    h.change(A, 2);
    await h.advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), []);
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 0 });
    assert.equal(await counter(h.metrics.queued), 0);
  });
});
