/**
 * What becomes of a push after it is sent (SPEC PUSH-7) and after a restart (PUSH-8): retries
 * with backoff until parked, a rejected provider key kept pending, refused tokens, a token
 * replaced mid-flight, the restart sweep and the outbox left by a dead process.
 */
import assert from 'node:assert/strict';
import { parseDeviceId } from '@badgesync/shared';
import { describe, test, vi } from 'vitest';
import { MAX_ATTEMPTS, PROVIDER_KEY_RETRY_MS, retryDelay } from '../src/push/backoff.js';
import type { SendResult } from '../src/push/push-sender.js';
import { A, counter, GRACE, MAC, NEW_TOKEN, PHONE, T0, TOKEN, useScheduler, WINDOW } from './push-scheduler-harness.js';

describe('PushScheduler: answers and restarts', () => {
  const context = useScheduler();

  test('[PUSH-7] retry with backoff, then parked after MAX_ATTEMPTS; a new change revives it', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 7);
    const retry: SendResult = { kind: 'retry', reason: 'ServiceUnavailable' };
    h.sender.answer(...Array.from({ length: MAX_ATTEMPTS }, () => retry));
    await h.advance(WINDOW);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      assert.equal(h.sender.pushes.length, attempt);
      const last = h.sender.pushes.at(-1)?.at ?? 0;
      await h.advance(last + retryDelay(attempt, () => 0.5) - 20 - Date.now());
      assert.equal(h.sender.pushes.length, attempt, `attempt ${attempt + 1} waits its backoff`);
      await h.advance(40);
    }
    assert.equal(h.sender.pushes.length, MAX_ATTEMPTS);
    const gaps = h.sender.pushes.slice(1).map((p, i) => p.at - (h.sender.pushes[i]?.at ?? 0));
    assert.ok(
      gaps.every((gap, i) => gap >= (gaps[i - 1] ?? 0)),
      `backoff grows: ${gaps.join(', ')}`,
    );
    assert.equal(h.store.getPush(TOKEN)?.parked, true);
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 1 });
    assert.equal(await counter(h.metrics.parked), 1);
    assert.equal(await counter(h.metrics.retried), MAX_ATTEMPTS - 1);
    await h.advance(10 * 60_000);
    assert.equal(h.sender.pushes.length, MAX_ATTEMPTS, 'parked: not retried');
    h.change(A, 8);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges().at(-1), 8);
    assert.equal(h.store.getDelivered(TOKEN), 8);
    assert.equal(h.store.getPush(TOKEN), null);
  });

  test('[PUSH-7] a rejected provider key keeps the push pending and tries again a minute later', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 1);
    h.sender.answer({ kind: 'provider-token', reason: 'InvalidProviderToken' }, 'hold');
    await h.advance(WINDOW);
    assert.equal(h.sender.pushes.length, 1);
    assert.equal(h.store.getPush(TOKEN)?.parked, false, 'kept pending');
    h.change(A, 2);
    await h.advance(PROVIDER_KEY_RETRY_MS - 100);
    assert.equal(h.sender.pushes.length, 1, 'a change does not hurry a rejected key');
    await h.advance(200);
    assert.equal(h.sender.pushes.length, 2);
    h.sender.release();
    await h.settle();
    assert.deepEqual(h.sender.badges(), [1, 2]);
    assert.equal(h.store.getDelivered(TOKEN), 2);
    assert.equal(await counter(h.metrics.failed), 1);
  });

  test('[PUSH-7] a refused token is not used again; 410 older than the registration revives it', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.sender.answer({ kind: 'invalid-token', reason: 'Unregistered', timestamp: T0 - 1 });
    await h.advance(WINDOW);
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, null, 'registered after the 410 timestamp');
    h.sender.answer({ kind: 'invalid-token', reason: 'BadDeviceToken' });
    h.change(A, 1);
    await h.advance(WINDOW);
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, 'BadDeviceToken');
    const sends = h.sender.pushes.length;
    h.change(A, 2);
    await h.advance(3 * WINDOW);
    assert.equal(h.sender.pushes.length, sends, 'an invalid token gets nothing');
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 0 });
  });

  test('[PUSH-7] a refusal for a token replaced meanwhile leaves the new token valid, and the new token gets the badge', async () => {
    const { h } = context;
    h.change(A, 3);
    // Queued with the badge it will carry, so the entry the new registration writes mid-flight
    // carries the same badge as the one in flight: the case the fix is about.
    h.register(A, PHONE);
    h.sender.answer('hold');
    await h.advance(WINDOW);
    assert.equal(h.sender.pushes[0]?.apnsToken, TOKEN);
    h.register(A, PHONE, NEW_TOKEN);
    h.sender.release({ kind: 'invalid-token', reason: 'Unregistered', timestamp: Date.now() });
    await h.settle();
    const record = h.store.getRegistration(A, PHONE);
    assert.equal(record?.address, NEW_TOKEN);
    assert.equal(record?.tokenInvalidReason, null, 'the new token is not the one APNs refused');
    await h.advance(WINDOW + 20);
    assert.deepEqual(
      h.sender.pushes.map((p) => [p.apnsToken, p.badge]),
      [
        [TOKEN, 3],
        [NEW_TOKEN, 3],
      ],
    );
    assert.equal(h.store.getDelivered(NEW_TOKEN), 3);
  });

  test('[PUSH-8] after a restart, every pushable device whose badge APNs lacks is pushed after the grace period', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.store.putDevice(A, MAC, { apnsToken: NEW_TOKEN }, Date.now());
    h.change(A, 2);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2, 2]);
    // Counts changed on disk, but the process died before it queued anyone.
    h.commitCounts(A, 5);
    h.restart();
    await h.advance(GRACE - 100);
    assert.equal(h.sender.pushes.length, 2, 'reconnecting devices get the grace period first');
    await h.advance(100 + WINDOW);
    assert.deepEqual(h.sender.badges(), [2, 2, 5, 5]);
  });

  test('[PUSH-8] the restart sweep queues only devices whose badge APNs lacks, a slice per turn of the event loop', async () => {
    const { h } = context;
    const devices = Array.from({ length: 1_000 }, (_, i) => parseDeviceId(`device-${String(i).padStart(4, '0')}`));
    for (const [i, device] of devices.entries()) {
      const token = (i + 1).toString(16).padStart(64, '0');
      h.store.putDevice(A, device, { apnsToken: token }, Date.now());
      // Half of them APNs already has the badge of (4); the other half it has 3.
      h.store.setDelivered(token, i % 2 === 0 ? 4 : 3, Date.now());
    }
    h.commitCounts(A, 4);
    h.restart();
    const enqueued: string[] = [];
    const enqueue = h.store.enqueuePush.bind(h.store);
    h.store.enqueuePush = (entry) => {
      enqueued.push(entry.token);
      enqueue(entry);
    };
    vi.advanceTimersByTime(GRACE);
    // The store answers through promises: the first slice is queued once they have answered,
    // the next one on a later turn of the event loop.
    await new Promise<void>((resolve) => setImmediate(resolve));
    assert.ok(enqueued.length > 0 && enqueued.length < 500, `the sweep's first turn queued ${enqueued.length}`);
    for (let turn = 0; turn < 5; turn++) await h.settle();
    // MAX_IN_FLIGHT at most: a few more 10 ms steps after the window let all 500 go.
    await h.advance(WINDOW + 500);
    assert.equal(enqueued.length, 500, 'only the devices whose badge differs got an outbox entry');
    assert.equal(h.sender.pushes.length, 500);
    assert.ok(h.sender.pushes.every((push) => push.badge === 4));
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 0 });
  });

  test('[PUSH-8] a parked entry is revived by the restart sweep', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 2);
    h.store.enqueuePush({ token: TOKEN, badge: 2, changedAt: T0, dueAt: T0, attempts: MAX_ATTEMPTS, parked: true });
    h.restart();
    await h.advance(GRACE + WINDOW);
    assert.deepEqual(h.sender.badges(), [2]);
    assert.equal(h.store.getPush(TOKEN), null);
  });

  test('[PUSH-8] an outbox entry left by the last process goes out at its time', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.change(A, 6);
    // The entry is durable (the store has answered the scheduler's reads and its write) when the process dies.
    await h.settle();
    h.restart();
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [6]);
  });
});
