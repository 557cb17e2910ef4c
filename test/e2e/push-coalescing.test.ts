/**
 * Coalescing (SPEC PUSH-5, invariant 5): at most one push per device per window, the final
 * value of a burst never dropped, at most one push per device in flight, and a change made
 * while a push is in flight sent one window later.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { ApnsAnswers, type ApnsRequestRecord } from '../helpers/apns-test-server.js';
import { metric } from '../helpers/metrics.js';
import { badgeOf, delivered, post, register, usePushRig, waitForBadge, waitForMetric } from '../helpers/push-rig.js';

/** A window long enough that a burst of 100 posts fits in one or two of them. */
const WINDOW_MS = 500;
/** Timers and clocks round to the millisecond; pushes of one device are never closer than this to a window. */
const CLOCK_SLACK_MS = 5;

describe(`push: coalescing, with a ${WINDOW_MS} ms window`, () => {
  const ctx = usePushRig({ BADGESYNC_PUSH_DELAY_MS: String(WINDOW_MS) });

  function assertSpaced(requests: readonly ApnsRequestRecord[]): void {
    for (let i = 1; i < requests.length; i++) {
      const gap = (requests[i]?.receivedAt ?? 0) - (requests[i - 1]?.receivedAt ?? 0);
      assert.ok(gap >= WINDOW_MS - CLOCK_SLACK_MS, `pushes ${i - 1} and ${i} only ${gap} ms apart`);
    }
  }

  test('[PUSH-5] a burst of 100 changes: a few pushes, a window apart, the last with the final value', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'ann', 'ann-phone');
    await waitForBadge(apns, phone, 0);
    const before = apns.requestsFor(phone).length;
    // 100 posts, 10 at a time, over 5 threads of the account.
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => post(server, 'ann', `thread-${i % 5}`)));
    }
    await waitForBadge(apns, phone, 100);
    const burst = apns.requestsFor(phone).slice(before);
    assert.ok(burst.length >= 1 && burst.length <= 4, `${burst.length} pushes for 100 changes`);
    assert.equal(badgeOf(burst.at(-1) as ApnsRequestRecord), 100);
    assertSpaced(apns.requestsFor(phone));
    const values = burst.map((request) => badgeOf(request) ?? -1);
    assert.deepEqual(
      values,
      [...values].sort((a, b) => a - b),
      'badges only go up in a burst of ingests',
    );
  });

  test('[PUSH-5] a change while the push is in flight: a second push with the new value, after the first is answered', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'bea', 'bea-phone');
    await waitForBadge(apns, phone, 0);
    const answeredAt = new Map<ApnsRequestRecord, number>();
    const stop = apns.onAnswer((request) => answeredAt.set(request, Date.now()));
    try {
      apns.enqueue(phone, ApnsAnswers.slow(1_500));
      await post(server, 'bea', 'inbox', 1);
      await apns.waitFor(
        () => apns.requestsFor(phone).length === 2,
        10_000,
        () => 'the slow push sent',
      );
      await post(server, 'bea', 'inbox', 2);
      await waitForBadge(apns, phone, 3);
      const [, slow, second] = apns.requestsFor(phone);
      assert.ok(slow && second);
      assert.deepEqual([badgeOf(slow), badgeOf(second)], [1, 3]);
      const slowAnswered = answeredAt.get(slow);
      assert.ok(slowAnswered !== undefined && second.receivedAt >= slowAnswered, 'one push in flight at a time');
      assert.ok(second.receivedAt - slowAnswered >= WINDOW_MS - CLOCK_SLACK_MS, 'one window after the first settled');
      assert.deepEqual(delivered(apns, phone), [0, 1, 3]);
    } finally {
      stop();
    }
  });

  test('[PUSH-1][PUSH-9] one change, 20 offline devices: one push each, and the queue drains', async () => {
    const { server, apns } = ctx.rig;
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => register(server, 'cai', `cai-device-${i}`)));
    await Promise.all(tokens.map((token) => waitForBadge(apns, token, 0)));
    await post(server, 'cai', 'inbox', 9);
    await Promise.all(tokens.map((token) => waitForBadge(apns, token, 9)));
    for (const token of tokens) assert.deepEqual(delivered(apns, token), [0, 9]);
    await waitForMetric(server, 'badgesync_push_queue_depth', {}, (depth) => depth === 0);
    assert.equal(await metric(server, 'badgesync_push_parked'), 0);
  });

  test('[PUSH-5] every device of the file was pushed at most once per window', async () => {
    const { apns } = ctx.rig;
    assert.ok(apns.requests.length > 20);
    const byToken = new Map<string, ApnsRequestRecord[]>();
    for (const request of apns.requests)
      byToken.set(request.deviceToken, [...(byToken.get(request.deviceToken) ?? []), request]);
    for (const requests of byToken.values()) assertSpaced(requests);
  });
});
