/**
 * Registration bodies per platform (SPEC API-14, API-5, API-7, STORE-19) through the real
 * server process: the v1 APNs body still registers and pushes through APNs unchanged; FCM and
 * Web Push bodies register their addresses; anything out of bounds is `400 invalid_body` and
 * registers nothing.
 */
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { apnsToken, post, usePushRig, waitForBadge } from '../helpers/push-rig.js';

/** A subscription as a browser's PushSubscription.toJSON() gives it. */
function subscription(endpoint = 'https://fcm.googleapis.com/fcm/send/abc') {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  };
}

describe('push registrations: APNs, FCM and Web Push bodies', () => {
  const ctx = usePushRig();

  test('[API-14][API-5] a v1 APNs body (no platform) registers and is pushed through APNs as before', async () => {
    const { server, apns } = ctx.rig;
    const token = apnsToken('v1-phone');
    const answer = await api(server, 'PUT', '/v1/accounts/ann/devices/ann-phone', {
      apnsToken: token.toUpperCase(),
      environment: 'production',
      badges: true,
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, {
      device: 'ann-phone',
      platform: 'apns',
      apnsToken: token,
      environment: 'production',
      topic: null,
      badges: true,
      tokenInvalidReason: null,
    });
    await post(server, 'ann', 'inbox', 2);
    await waitForBadge(apns, token, 2);
    const explicit = await api(server, 'PUT', '/v1/accounts/ann/devices/ann-phone', { platform: 'apns', badges: true });
    assert.deepEqual([explicit.status, explicit.body.apnsToken], [200, token], 'platform "apns" is the same body');
    const empty = await api(server, 'PUT', '/v1/accounts/ann/devices/ann-watch', {});
    assert.deepEqual([empty.status, empty.body.platform, empty.body.apnsToken], [200, null, null]);
  });

  test('[API-14] FCM and Web Push bodies register; a subscription’s keys are never echoed', async () => {
    const { server } = ctx.rig;
    const fcm = await api(server, 'PUT', '/v1/accounts/bea/devices/bea-pixel', {
      platform: 'fcm',
      fcmToken: 'fGx1:APA91bH-x_y',
      badges: true,
    });
    assert.equal(fcm.status, 200);
    assert.deepEqual(fcm.body, {
      device: 'bea-pixel',
      platform: 'fcm',
      apnsToken: null,
      fcmToken: 'fGx1:APA91bH-x_y',
      environment: 'production',
      topic: null,
      badges: true,
      tokenInvalidReason: null,
    });
    const sub = subscription();
    const web = await api(server, 'PUT', '/v1/accounts/bea/devices/bea-browser', {
      platform: 'webpush',
      subscription: sub,
    });
    assert.equal(web.status, 200);
    assert.deepEqual([web.body.platform, web.body.endpoint, web.body.apnsToken], ['webpush', sub.endpoint, null]);
    assert.ok(!JSON.stringify(web.body).includes(sub.keys.auth), 'the auth secret is not in the answer');
    // A device token may register its own device with any platform (AUTH-5).
    const own = await deviceToken(server, 'bea', 'bea-laptop');
    const byDevice = await api(
      server,
      'PUT',
      '/v1/accounts/bea/devices/bea-laptop',
      { platform: 'webpush', subscription: subscription('https://updates.push.services.mozilla.com/wpush/v2/x') },
      own,
    );
    assert.equal(byDevice.status, 200);
  });

  test('[API-14][API-7] bad bodies are 400 invalid_body and register nothing', async () => {
    const { server } = ctx.rig;
    const good = subscription();
    const bad: ReadonlyArray<readonly [string, unknown]> = [
      ['unknown platform', { platform: 'hms', token: 'x' }],
      ['FCM without a token', { platform: 'fcm' }],
      ['FCM empty token', { platform: 'fcm', fcmToken: '' }],
      ['FCM token with a space', { platform: 'fcm', fcmToken: 'a b' }],
      ['FCM token too long', { platform: 'fcm', fcmToken: 'a'.repeat(4097) }],
      ['FCM with an APNs token', { platform: 'fcm', fcmToken: 'abc', apnsToken: 'ab'.repeat(16) }],
      ['FCM with an APNs environment', { platform: 'fcm', fcmToken: 'abc', environment: 'sandbox' }],
      ['APNs with an FCM token', { apnsToken: 'ab'.repeat(16), fcmToken: 'abc' }],
      ['APNs token not hex', { platform: 'apns', apnsToken: 'zz'.repeat(16) }],
      ['Web Push without subscription', { platform: 'webpush' }],
      ['Web Push over http', { platform: 'webpush', subscription: { ...good, endpoint: 'http://push.example.net/x' } }],
      ['Web Push endpoint not a URL', { platform: 'webpush', subscription: { ...good, endpoint: 'push.example.net' } }],
      [
        'Web Push endpoint with credentials',
        { platform: 'webpush', subscription: { ...good, endpoint: 'https://u:p@push.example.net/x' } },
      ],
      [
        'Web Push endpoint too long',
        { platform: 'webpush', subscription: { ...good, endpoint: `https://push.example.net/${'x'.repeat(2048)}` } },
      ],
      [
        'Web Push auth of 15 bytes',
        {
          platform: 'webpush',
          subscription: { ...good, keys: { ...good.keys, auth: randomBytes(15).toString('base64url') } },
        },
      ],
      [
        'Web Push p256dh not a P-256 point',
        {
          platform: 'webpush',
          subscription: {
            ...good,
            keys: { ...good.keys, p256dh: randomBytes(65).fill(2, 0, 1).toString('base64url') },
          },
        },
      ],
      ['Web Push without keys', { platform: 'webpush', subscription: { endpoint: good.endpoint } }],
      ['Web Push with an extra field', { platform: 'webpush', subscription: good, apnsToken: 'ab'.repeat(16) }],
      ['badges not a boolean', { platform: 'fcm', fcmToken: 'abc', badges: 'yes' }],
    ];
    for (const [what, body] of bad) {
      const answer = await api<{ error: { code: string } }>(server, 'PUT', '/v1/accounts/cai/devices/cai-x', body);
      assert.deepEqual([answer.status, answer.body.error?.code], [400, 'invalid_body'], what);
    }
    const after = await api(server, 'PUT', '/v1/accounts/cai/devices/cai-x', {});
    assert.equal(after.body.platform, null, 'nothing was registered');
  });
});
