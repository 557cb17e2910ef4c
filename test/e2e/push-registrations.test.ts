/**
 * Push registrations per (account, device) and one push per phone (SPEC STORE-14, PUSH-10,
 * API-9), through the real server process and the test APNs server: a device token for one
 * account cannot move what another account's devices receive; registrations sharing an APNs
 * token get one push per window with the sum of their accounts; a topic the server is not
 * configured for is refused.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import type { ApnsRequestRecord } from '../helpers/apns-test-server.js';
import {
  apnsToken,
  badgeOf,
  DEFAULT_TOPIC,
  delivered,
  post,
  register,
  usePushRig,
  waitForBadge,
} from '../helpers/push-rig.js';

/** A window long enough that several sequential posts fall into one. */
const WINDOW_MS = 500;
/** Timers and clocks round to the millisecond; pushes of one phone are never closer than this to a window. */
const CLOCK_SLACK_MS = 5;
const WATCH_TOPIC = `${DEFAULT_TOPIC}.watchkitapp`;

describe('push registrations: per account, one push per phone', () => {
  const ctx = usePushRig({ BADGESYNC_PUSH_DELAY_MS: String(WINDOW_MS), BADGESYNC_APNS_TOPICS: WATCH_TOPIC });

  test('[STORE-14][PUSH-10] a token for account A with did X registering a new APNs token does not change what X receives for B', async () => {
    const { server, apns } = ctx.rig;
    const phone = apnsToken('x-phone');
    const stolen = apnsToken('attacker-phone');
    await register(server, 'ana', 'x', { apnsToken: phone });
    await register(server, 'bob', 'x', { apnsToken: phone });
    await post(server, 'bob', 'inbox', 2);
    await waitForBadge(apns, phone, 2);

    // Someone holding a token for ana with did = x re-registers x there with another APNs token.
    const anaToken = await deviceToken(server, 'ana', 'x');
    const put = await api(server, 'PUT', '/v1/accounts/ana/devices/x', { apnsToken: stolen }, anaToken);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const forBob = await api(server, 'PUT', '/v1/accounts/bob/devices/x', { apnsToken: stolen }, anaToken);
    assert.equal(forBob.status, 403, 'a token for ana may not register x in bob');

    await post(server, 'bob', 'inbox', 3);
    await waitForBadge(apns, phone, 5);
    await post(server, 'ana', 'news', 1);
    await waitForBadge(apns, stolen, 1);
    await post(server, 'bob', 'inbox', 1);
    await waitForBadge(apns, phone, 6);
    assert.deepEqual(
      delivered(apns, stolen).filter((badge) => badge !== 0 && badge !== 1),
      [],
      "the other token only ever carries ana's count, never bob's",
    );
    // bob's registration of x still names the phone's token (a PUT without fields changes nothing).
    const bobX = await api<{ apnsToken: string }>(server, 'PUT', '/v1/accounts/bob/devices/x', {});
    assert.equal(bobX.body.apnsToken, phone);
  });

  test('[PUSH-10][PUSH-5] five registrations of one account sharing one APNs token: one push per window, with the summed badge', async () => {
    const { server, apns } = ctx.rig;
    const phone = apnsToken('cam-phone');
    for (let i = 1; i <= 5; i++) await register(server, 'cam', `cam-${i}`, { apnsToken: phone });
    await register(server, 'dan', 'dan-1', { apnsToken: phone });
    await waitForBadge(apns, phone, 0);
    for (let i = 0; i < 20; i++) await post(server, i % 2 === 0 ? 'cam' : 'dan', `t${i % 3}`);
    // cam has 10, dan 10: the phone shows 20 — each account once, not five times.
    await waitForBadge(apns, phone, 20);
    await new Promise((resolve) => setTimeout(resolve, 2 * WINDOW_MS));
    const requests = apns.requestsFor(phone);
    for (let i = 1; i < requests.length; i++) {
      const gap = (requests[i]?.receivedAt ?? 0) - (requests[i - 1]?.receivedAt ?? 0);
      assert.ok(gap >= WINDOW_MS - CLOCK_SLACK_MS, `pushes ${i - 1} and ${i} only ${gap} ms apart`);
    }
    assert.equal(badgeOf(requests.at(-1) as ApnsRequestRecord), 20);
    assert.ok(
      requests.every((request) => (badgeOf(request) ?? 0) <= 20),
      `never more than the sum: ${requests.map(badgeOf).join(', ')}`,
    );
  });

  test('[API-9] a registration naming a topic the server is not configured for is refused 400 topic_not_allowed', async () => {
    const { server } = ctx.rig;
    const refused = await api(server, 'PUT', '/v1/accounts/eve/devices/eve-1', {
      apnsToken: apnsToken('eve-1'),
      topic: 'com.someone.else',
    });
    assert.equal(refused.status, 400);
    assert.equal((refused.body as { error: { code: string } }).error.code, 'topic_not_allowed');
    const asDevice = await api(
      server,
      'PUT',
      '/v1/accounts/eve/devices/eve-1',
      { topic: 'com.someone.else' },
      await deviceToken(server, 'eve', 'eve-1'),
    );
    assert.equal(asDevice.status, 400, 'a device token is held to the same list');
    const badge = await api(server, 'GET', '/v1/accounts/eve/badge');
    assert.equal(badge.status, 200);
    // Nothing was registered: the device is not signed in, so a DELETE finds nothing.
    assert.deepEqual((await api(server, 'DELETE', '/v1/accounts/eve/devices/eve-1')).body, { signedOut: false });

    for (const topic of [DEFAULT_TOPIC, WATCH_TOPIC]) {
      const ok = await api(server, 'PUT', '/v1/accounts/eve/devices/eve-1', { topic });
      assert.equal(ok.status, 200, `${topic}: ${JSON.stringify(ok.body)}`);
    }
  });
});
