/**
 * Every class of APNs answer (SPEC PUSH-7), scripted per device token on the test APNs server
 * and met by the real server process: tokens APNs refuses are not used again (until a newer
 * registration), 429 and 5xx are retried until delivered, a slow answer is waited for.
 * "Not used again" is checked against a witness device of the same account.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { ApnsAnswers } from '../helpers/apns-test-server.js';
import { metric } from '../helpers/metrics.js';
import {
  delivered,
  post,
  register,
  usePushRig,
  waitForBadge,
  waitForMetric,
  waitForRequests,
} from '../helpers/push-rig.js';

describe('push: APNs answers', () => {
  const ctx = usePushRig();

  /** The device's record as a registration without a token answers it (changes nothing else). */
  async function record(account: string, device: string): Promise<Record<string, unknown>> {
    const answer = await api(ctx.rig.server, 'PUT', `/v1/accounts/${account}/devices/${device}`, {});
    assert.equal(answer.status, 200);
    return answer.body;
  }

  test('[PUSH-7] 410 Unregistered: the token is not used again, until it is registered again', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'ann', 'ann-phone');
    const witness = await register(server, 'ann', 'ann-ipad');
    await Promise.all([waitForBadge(apns, phone, 0), waitForBadge(apns, witness, 0)]);
    // APNs has known since now that the token is gone: after the registration above.
    apns.enqueue(phone, ApnsAnswers.unregistered(Date.now()));
    await post(server, 'ann', 'inbox', 1);
    await waitForBadge(apns, witness, 1);
    await waitForRequests(apns, phone, 2);
    await waitForMetric(server, 'badgesync_pushes_failed_total', { reason: 'Unregistered' }, (n) => n >= 1);
    assert.equal((await record('ann', 'ann-phone')).tokenInvalidReason, 'Unregistered');
    await post(server, 'ann', 'inbox', 1);
    await waitForBadge(apns, witness, 2);
    assert.equal(apns.requestsFor(phone).length, 2, 'no push to a token APNs called unregistered');
    // The app registers the same token again (reinstalled): newer than APNs's timestamp.
    await register(server, 'ann', 'ann-phone');
    await waitForBadge(apns, phone, 2);
    assert.equal((await record('ann', 'ann-phone')).tokenInvalidReason, null);
    await post(server, 'ann', 'inbox', 1);
    await waitForBadge(apns, phone, 3);
    assert.deepEqual(delivered(apns, phone), [0, 2, 3]);
  });

  test('[PUSH-7] 410 with a timestamp older than the registration: the token stays in use', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'bea', 'bea-phone');
    await waitForBadge(apns, phone, 0);
    apns.enqueue(phone, ApnsAnswers.unregistered(Date.now() - 60 * 60_000));
    await post(server, 'bea', 'inbox', 1);
    await waitForRequests(apns, phone, 2);
    await waitForMetric(server, 'badgesync_pushes_failed_total', { reason: 'Unregistered' }, (n) => n >= 2);
    assert.equal((await record('bea', 'bea-phone')).tokenInvalidReason, null);
    await post(server, 'bea', 'inbox', 1);
    await waitForBadge(apns, phone, 2);
  });

  for (const [reason, answer] of [
    ['BadDeviceToken', ApnsAnswers.badDeviceToken],
    ['DeviceTokenNotForTopic', ApnsAnswers.deviceTokenNotForTopic],
  ] as const) {
    test(`[PUSH-7] 400 ${reason}: the token is dropped`, async () => {
      const { server, apns } = ctx.rig;
      const account = `cai-${reason}`;
      const phone = await register(server, account, `${account}-phone`);
      const witness = await register(server, account, `${account}-ipad`);
      apns.answerAlways(phone, answer);
      await post(server, account, 'inbox', 1);
      await waitForBadge(apns, witness, 1);
      await waitForRequests(apns, phone, 1);
      await waitForMetric(server, 'badgesync_pushes_failed_total', { reason }, (n) => n >= 1);
      assert.equal((await record(account, `${account}-phone`)).tokenInvalidReason, reason);
      await post(server, account, 'inbox', 1);
      await waitForBadge(apns, witness, 2);
      assert.equal(apns.requestsFor(phone).length, 1, 'one request, then never again');
    });
  }

  test('[PUSH-7] 429 and 503 are retried with backoff until APNs takes the badge', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'dan', 'dan-phone');
    await waitForBadge(apns, phone, 0);
    const retried429 = await metric(server, 'badgesync_pushes_retried_total', { reason: 'TooManyRequests' });
    const retried503 = await metric(server, 'badgesync_pushes_retried_total', { reason: 'ServiceUnavailable' });
    apns.enqueue(phone, ApnsAnswers.tooManyRequests, ApnsAnswers.serviceUnavailable, ApnsAnswers.internalServerError);
    await post(server, 'dan', 'inbox', 4);
    await waitForBadge(apns, phone, 4);
    const statuses = apns
      .requestsFor(phone)
      .slice(1)
      .map((request) => (request.answer !== null && 'status' in request.answer ? request.answer.status : 0));
    assert.deepEqual(statuses, [429, 503, 500, 200]);
    const sentAt = apns.requestsFor(phone).map((request) => request.receivedAt);
    const gaps = sentAt.slice(2).map((at, i) => at - (sentAt[i + 1] ?? 0));
    assert.ok(
      gaps.every((gap) => gap >= 400),
      `retries wait (≥ half of the 1 s base, jittered): ${gaps.join(', ')} ms`,
    );
    await waitForMetric(server, 'badgesync_pushes_retried_total', { reason: 'TooManyRequests' }, (n) => n > retried429);
    assert.ok((await metric(server, 'badgesync_pushes_retried_total', { reason: 'ServiceUnavailable' })) > retried503);
    assert.equal(await metric(server, 'badgesync_pushes_parked_total'), 0);
  });

  test('[PUSH-7] a slow answer is waited for, and holds up no other device', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'eve', 'eve-phone');
    const ipad = await register(server, 'eve', 'eve-ipad');
    await Promise.all([waitForBadge(apns, phone, 0), waitForBadge(apns, ipad, 0)]);
    apns.enqueue(phone, ApnsAnswers.slow(2_500));
    await post(server, 'eve', 'inbox', 2);
    await waitForBadge(apns, ipad, 2);
    await apns.waitFor(
      () => apns.requestsFor(phone).length === 2,
      5_000,
      () => 'the phone’s push sent',
    );
    assert.equal(apns.requestsFor(phone)[1]?.answer, null, 'the iPad was answered while the phone waited');
    await waitForBadge(apns, phone, 2);
    assert.deepEqual(delivered(apns, phone), [0, 2]);
    assert.equal(apns.requestsFor(phone).length, 2, 'delivered once, not retried');
  });
});
