/**
 * FCM end to end (SPEC PUSH-14, PUSH-15): the real server process pushing Android badges to
 * the test FCM server, with access tokens minted by its token endpoint from the test service
 * account. The APNs policy, on FCM: only devices offline for the changed account, coalesced,
 * deduplicated against what FCM accepted, tokens FCM refuses dropped, 503/429 retried no
 * sooner than Retry-After, and a push pending at a kill -9 delivered by the next process.
 */
import assert from 'node:assert/strict';
import { afterAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { registerFcm, useFcmRig, waitForFcmBadge, waitForFcmRequests } from '../helpers/fcm-rig.js';
import { FcmAnswers } from '../helpers/fcm-test-server.js';
import { metric } from '../helpers/metrics.js';
import { connectDevice, type Device, synced } from '../helpers/providers.js';
import { post, waitForMetric } from '../helpers/push-rig.js';

/** A coalescing window long enough that a burst of 50 posts fits in one or two of them. */
const WINDOW_MS = 400;

describe(`push over FCM, with a ${WINDOW_MS} ms window`, () => {
  const ctx = useFcmRig({ BADGESYNC_PUSH_DELAY_MS: String(WINDOW_MS) });
  const devices: Device[] = [];
  afterAll(() => {
    for (const device of devices) device.destroy();
  });

  async function online(account: string, device: string): Promise<Device> {
    const { server } = ctx.rig;
    const connected = await connectDevice(
      { syncUrl: server.syncUrl, deviceSecret: server.deviceSecret },
      account,
      device,
    );
    devices.push(connected);
    await synced(connected);
    return connected;
  }

  test('[PUSH-15] the registration answers its platform and token; FCM gets the badge as a data message', async () => {
    const { server, fcm } = ctx.rig;
    const answer = await api(server, 'PUT', '/v1/accounts/ann/devices/ann-pixel', {
      platform: 'fcm',
      fcmToken: 'ann-token:APA91bXYZ',
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(
      [answer.body.platform, answer.body.fcmToken, answer.body.apnsToken],
      ['fcm', 'ann-token:APA91bXYZ', null],
    );
    await post(server, 'ann', 'inbox', 3);
    await waitForFcmBadge(fcm, 'ann-token:APA91bXYZ', 3);
    const last = fcm.requestsFor('ann-token:APA91bXYZ').at(-1);
    assert.ok(last);
    assert.deepEqual((last.body as { message: unknown }).message, {
      token: 'ann-token:APA91bXYZ',
      data: { badge: '3' },
      android: { collapse_key: 'badge', priority: 'NORMAL', ttl: '2419200s' },
    });
    assert.ok(fcm.tokenRequests.length >= 1 && fcm.tokenRequests.every((r) => r.refused === null));
  });

  test('[PUSH-14][PUSH-3] only a device offline for the account is pushed', async () => {
    const { server, fcm } = ctx.rig;
    const phone = await online('bea', 'bea-pixel');
    const phoneToken = await registerFcm(server, 'bea', 'bea-pixel');
    const witness = await registerFcm(server, 'bea', 'bea-tablet');
    await post(server, 'bea', 'inbox', 2);
    await waitForFcmBadge(fcm, witness, 2);
    assert.deepEqual(fcm.badgesFor(phoneToken), [], 'nothing while it is online');
    phone.provider.disconnect();
    await post(server, 'bea', 'inbox', 1);
    await waitForFcmBadge(fcm, phoneToken, 3);
    await waitForFcmBadge(fcm, witness, 3);
  });

  test('[PUSH-14][PUSH-5] a burst of 50 changes: a few pushes, the last with the final value', async () => {
    const { server, fcm } = ctx.rig;
    const token = await registerFcm(server, 'cai', 'cai-pixel');
    await waitForFcmBadge(fcm, token, 0);
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => post(server, 'cai', `thread-${i % 5}`)));
    }
    await waitForFcmBadge(fcm, token, 50);
    const burst = fcm.badgesFor(token).slice(1);
    assert.ok(burst.length >= 1 && burst.length <= 4, `${burst.length} pushes for 50 changes`);
    assert.deepEqual(
      burst,
      [...burst].sort((a, b) => a - b),
      'badges only go up in a burst of ingests',
    );
  });

  test('[PUSH-14][PUSH-6] a total FCM already has is not pushed again', async () => {
    const { server, fcm } = ctx.rig;
    const token = 'dan-token:APA91bDAN';
    // The phone is also in a second account, with badges off there: its changes move nothing.
    const off = await api(server, 'PUT', '/v1/accounts/dan-work/devices/dan-pixel', {
      platform: 'fcm',
      fcmToken: token,
      badges: false,
    });
    assert.equal(off.status, 200);
    await registerFcm(server, 'dan', 'dan-pixel', token);
    await waitForFcmBadge(fcm, token, 0);
    await post(server, 'dan', 'inbox', 4);
    await waitForFcmBadge(fcm, token, 4);
    const skipped = await metric(server, 'badgesync_pushes_skipped_total', { reason: 'unchanged' });
    await post(server, 'dan-work', 'inbox', 3);
    await waitForMetric(server, 'badgesync_pushes_skipped_total', { reason: 'unchanged' }, (n) => n > skipped);
    await post(server, 'dan', 'inbox', 1);
    await waitForFcmBadge(fcm, token, 5);
    assert.deepEqual(fcm.badgesFor(token), [0, 4, 5], 'the unchanged total was not sent');
  });

  test('[PUSH-15] UNREGISTERED drops the token until it is registered again', async () => {
    const { server, fcm } = ctx.rig;
    const token = await registerFcm(server, 'eve', 'eve-pixel');
    const witness = await registerFcm(server, 'eve', 'eve-tablet');
    await waitForFcmBadge(fcm, token, 0);
    fcm.enqueue(token, FcmAnswers.unregistered);
    await post(server, 'eve', 'inbox', 1);
    await waitForFcmBadge(fcm, witness, 1);
    await waitForFcmRequests(fcm, token, 2);
    await waitForMetric(server, 'badgesync_pushes_failed_total', { reason: 'UNREGISTERED' }, (n) => n >= 1);
    const record = await api(server, 'PUT', '/v1/accounts/eve/devices/eve-pixel', {});
    assert.equal(record.body.tokenInvalidReason, 'UNREGISTERED');
    await post(server, 'eve', 'inbox', 1);
    await waitForFcmBadge(fcm, witness, 2);
    assert.equal(fcm.requestsFor(token).length, 2, 'no push to a token FCM called unregistered');
    await registerFcm(server, 'eve', 'eve-pixel', token);
    await waitForFcmBadge(fcm, token, 2);
  });

  test('[PUSH-15] INVALID_ARGUMENT about the token drops it too', async () => {
    const { server, fcm } = ctx.rig;
    const token = await registerFcm(server, 'fay', 'fay-pixel');
    fcm.answerAlways(token, FcmAnswers.invalidToken);
    await post(server, 'fay', 'inbox', 1);
    await waitForFcmRequests(fcm, token, 1);
    await waitForMetric(server, 'badgesync_pushes_failed_total', { reason: 'INVALID_ARGUMENT' }, (n) => n >= 1);
    const record = await api(server, 'PUT', '/v1/accounts/fay/devices/fay-pixel', {});
    assert.equal(record.body.tokenInvalidReason, 'INVALID_ARGUMENT');
  });

  test('[PUSH-15] 503 and 429 are retried until FCM takes the badge, no sooner than Retry-After', async () => {
    const { server, fcm } = ctx.rig;
    const token = await registerFcm(server, 'gus', 'gus-pixel');
    await waitForFcmBadge(fcm, token, 0);
    fcm.enqueue(token, FcmAnswers.unavailable(), FcmAnswers.quotaExceeded('2'));
    await post(server, 'gus', 'inbox', 6);
    await waitForFcmBadge(fcm, token, 6);
    const requests = fcm.requestsFor(token);
    assert.deepEqual(
      requests.map((r) => r.status),
      [200, 503, 429, 200],
    );
    const [, , throttled, taken] = requests;
    assert.ok(throttled && taken);
    assert.ok(taken.at - throttled.at >= 2_000, `retried ${taken.at - throttled.at} ms after Retry-After: 2`);
    assert.ok((await metric(server, 'badgesync_pushes_retried_total', { reason: 'QUOTA_EXCEEDED' })) >= 1);
  });

  test('[PUSH-15] an access token FCM stops accepting is renewed and the push goes through', async () => {
    const { server, fcm } = ctx.rig;
    const token = await registerFcm(server, 'hal', 'hal-pixel');
    await waitForFcmBadge(fcm, token, 0);
    const minted = fcm.tokensMinted.length;
    fcm.expireTokens();
    await post(server, 'hal', 'inbox', 1);
    await waitForFcmBadge(fcm, token, 1);
    assert.equal(fcm.tokensMinted.length, minted + 1);
  });

  test('[PUSH-14][PUSH-8] FCM answering 503, then the process killed: the next one delivers the badge', async () => {
    const { fcm } = ctx.rig;
    const token = await registerFcm(ctx.rig.server, 'ivy', 'ivy-pixel');
    await waitForFcmBadge(fcm, token, 0);
    fcm.answerAlways(token, FcmAnswers.unavailable());
    await post(ctx.rig.server, 'ivy', 'inbox', 3);
    await waitForFcmRequests(fcm, token, 2);
    await waitForMetric(ctx.rig.server, 'badgesync_pushes_retried_total', { reason: 'UNAVAILABLE' }, (n) => n >= 1);
    await ctx.rig.server.kill();
    ctx.rig.server = await ctx.rig.server.restart();
    fcm.resetAnswers();
    await waitForFcmBadge(fcm, token, 3);
    assert.deepEqual(fcm.badgesFor(token), [0, 3]);
  });
});
