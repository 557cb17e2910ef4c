/**
 * The provider token (SPEC PUSH-7): APNs calling it expired gets a fresh one and the push
 * goes through; a key APNs does not know keeps every push pending, loudly, with the failure
 * on /metrics.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsAnswers } from '../helpers/apns-test-server.js';
import { metric } from '../helpers/metrics.js';
import {
  advanceClock,
  clockShiftEnv,
  delivered,
  type PushRig,
  post,
  register,
  startPushRig,
  strangerKey,
  waitForBadge,
  waitForMetric,
  waitForRequests,
} from '../helpers/push-rig.js';
import { stopAll } from '../helpers/server-process.js';

/** Past Apple's 20-minute floor between provider tokens, inside their 60-minute life. */
const TOKEN_AGE_MS = 21 * 60_000;

describe('push: an expired provider token', () => {
  let rig: PushRig;
  beforeAll(async () => {
    rig = await startPushRig(clockShiftEnv(TOKEN_AGE_MS));
  });
  afterAll(async () => {
    await rig?.close();
    await stopAll();
  });

  test('[PUSH-7] 403 ExpiredProviderToken: a fresh provider token, the same push again, delivered', async () => {
    const { server, apns } = rig;
    const phone = await register(server, 'ann', 'ann-phone');
    await waitForBadge(apns, phone, 0);
    const first = apns.requestsFor(phone)[0]?.jwt;
    assert.ok(first, 'the first push carried a provider token');
    // The server's clock moves 21 minutes on: its token is now old enough to be renewed.
    await advanceClock(server);
    apns.enqueue(phone, ApnsAnswers.expiredProviderToken);
    await post(server, 'ann', 'inbox', 3);
    await waitForBadge(apns, phone, 3);
    const [, refused, retried] = apns.requestsFor(phone);
    assert.ok(refused && retried);
    assert.equal(refused.jwt?.raw, first.raw, 'the refused push carried the old token');
    assert.notEqual(retried.jwt?.raw, first.raw, 'the retry carried a new one');
    assert.ok(Number(retried.jwt?.claims.iat) > Number(first.claims.iat), 'issued later');
    assert.deepEqual(delivered(apns, phone), [0, 3]);
    assert.equal(await metric(server, 'badgesync_pushes_failed_total'), 0, 'not a failure: renewed and sent');
    // The new token is kept for later pushes.
    await post(server, 'ann', 'inbox', 1);
    await waitForBadge(apns, phone, 4);
    assert.equal(apns.requestsFor(phone).at(-1)?.jwt?.raw, retried.jwt?.raw);
  });
});

describe('push: a key APNs does not know', () => {
  let rig: PushRig;
  const key = strangerKey();
  beforeAll(async () => {
    rig = await startPushRig({ BADGESYNC_APNS_KEY_FILE: key.keyPath });
  });
  afterAll(async () => {
    await rig?.close();
    await stopAll();
    key.remove();
  });

  test('[PUSH-7][PUSH-9] 403 InvalidProviderToken: pushes stay pending, logged loudly, counted on /metrics', async () => {
    const { server, apns } = rig;
    const phone = await register(server, 'bea', 'bea-phone');
    const ipad = await register(server, 'bea', 'bea-ipad');
    await post(server, 'bea', 'inbox', 2);
    await Promise.all([waitForRequests(apns, phone, 1), waitForRequests(apns, ipad, 1)]);
    for (const request of apns.requests) {
      assert.deepEqual(request.answer && 'status' in request.answer && [request.answer.status, request.answer.reason], [
        403,
        'InvalidProviderToken',
      ]);
    }
    await waitForMetric(server, 'badgesync_pushes_failed_total', { reason: 'InvalidProviderToken' }, (n) => n >= 2);
    // Kept pending (not parked, not dropped) for when the key is fixed.
    assert.equal(await metric(server, 'badgesync_push_queue_depth'), 2);
    assert.equal(await metric(server, 'badgesync_push_parked'), 0);
    assert.equal(await metric(server, 'badgesync_pushes_sent_total'), 0);
    const loud = server.logs.filter((line) => line.level === 50 && String(line.msg).includes('kept pending'));
    assert.ok(loud.length >= 1, 'an error line says the push is kept pending');
    assert.match(JSON.stringify(loud[0]), /BADGESYNC_APNS_KEY_FILE/);
    // More changes do not hammer APNs with a key it refuses: the retry is a minute away.
    await post(server, 'bea', 'inbox', 1);
    await post(server, 'bea', 'inbox', 1);
    await new Promise((resolve) => setTimeout(resolve, 5 * 100)); // five coalescing windows pass
    assert.equal(apns.requests.length, 2);
    assert.equal(await metric(server, 'badgesync_push_queue_depth'), 2);
  });
});
