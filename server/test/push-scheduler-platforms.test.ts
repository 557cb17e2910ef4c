/**
 * Push addresses on every platform (SPEC PUSH-14, STORE-19): FCM and Web Push registrations
 * get the policy APNs ones get — offline only, coalesced, deduplicated, invalidated, one push
 * per address with the total of its accounts — and each push has its platform's shape.
 */
import assert from 'node:assert/strict';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { describe, test } from 'vitest';
import type { AnyBadgePush } from '../src/push/push-sender.js';
import type { DevicePatch } from '../src/store/store.js';
import { A, B, type Harness, MAC, PHONE, TOKEN, useScheduler, WINDOW } from './push-scheduler-harness.js';

const FCM_TOKEN = 'dXJ0aGU6APA91bF-fake_token';
const FCM = `fcm:${FCM_TOKEN}`;
const ENDPOINT = 'https://push.example.net/send/subscription-1';
const WEB = `webpush:${ENDPOINT}`;
const KEYS = { p256dh: `B${'x'.repeat(86)}`, auth: 'a'.repeat(22) };

function register(h: Harness, account: AccountId, device: DeviceId, patch: DevicePatch): void {
  const before = h.store.getRegistration(account, device)?.address ?? null;
  h.store.putDevice(account, device, patch, Date.now());
  h.scheduler.deviceRegistered(account, device, true, before);
}

function pushes(h: Harness): AnyBadgePush[] {
  return h.sender.pushes.map(({ at: _at, ...push }) => push as AnyBadgePush);
}

describe('PushScheduler: FCM and Web Push addresses', () => {
  const context = useScheduler();

  test('[PUSH-14] an FCM registration gets an FCM push; a Web Push one a Web Push push; APNs stays APNs', async () => {
    const { h } = context;
    h.change(A, 3);
    register(h, A, PHONE, { fcmToken: FCM_TOKEN });
    register(h, A, MAC, { webpush: { endpoint: ENDPOINT, keys: KEYS } });
    h.register(B, PHONE, TOKEN);
    await h.advance(WINDOW);
    const sorted = pushes(h).sort((x, y) => (x.platform ?? 'apns').localeCompare(y.platform ?? 'apns'));
    assert.deepEqual(sorted, [
      {
        device: PHONE,
        apnsToken: TOKEN,
        environment: 'production',
        topic: 'com.example.app',
        badge: 0,
        collapseId: 'badge',
      },
      { platform: 'fcm', device: PHONE, fcmToken: FCM_TOKEN, badge: 3, collapseKey: 'badge' },
      {
        platform: 'webpush',
        device: MAC,
        subscription: { endpoint: ENDPOINT, keys: KEYS },
        badge: 3,
        collapseId: 'badge',
      },
    ]);
    assert.equal(h.store.getDelivered(FCM), 3);
    assert.equal(h.store.getDelivered(WEB), 3);
  });

  test('[PUSH-14] FCM: offline only, coalesced, deduplicated, one push per address summing its accounts', async () => {
    const { h } = context;
    h.goOnline(A, PHONE);
    register(h, A, PHONE, { fcmToken: FCM_TOKEN });
    register(h, B, PHONE, { fcmToken: FCM_TOKEN });
    h.change(A, 1);
    await h.advance(WINDOW);
    assert.deepEqual(
      pushes(h).map((p) => p.badge),
      [1],
      'offline for B, which registered: the phone gets its total, A included',
    );
    h.change(A, 2);
    await h.advance(2 * WINDOW);
    assert.deepEqual(
      pushes(h).map((p) => p.badge),
      [1],
      'online for A: no push',
    );
    h.goOffline(A, PHONE);
    h.scheduler.deviceOnline(A, PHONE); // reconnects within the grace period
    for (let badge = 3; badge <= 6; badge++) {
      h.change(B, badge);
      await h.advance(50);
    }
    await h.advance(2 * WINDOW);
    assert.deepEqual(
      pushes(h).map((p) => p.badge),
      [1, 8],
      'the burst in B is one push with A + B',
    );
    h.change(B, 6);
    await h.advance(2 * WINDOW);
    assert.equal(pushes(h).length, 2, 'the same total is not pushed again');
  });

  test('[PUSH-14] a refused FCM token stops its registrations; a new registration revives it', async () => {
    const { h } = context;
    h.sender.answer({ kind: 'invalid-token', reason: 'UNREGISTERED' });
    register(h, A, PHONE, { fcmToken: FCM_TOKEN });
    await h.advance(WINDOW);
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, 'UNREGISTERED');
    h.change(A, 4);
    await h.advance(2 * WINDOW);
    assert.equal(pushes(h).length, 1, 'no push to a refused token');
    register(h, A, PHONE, { fcmToken: FCM_TOKEN });
    await h.advance(WINDOW);
    assert.deepEqual(
      pushes(h).map((p) => p.badge),
      [0, 4],
    );
  });

  test('[PUSH-14] a Web Push retry keeps the newest badge and honours the delay asked for', async () => {
    const { h } = context;
    h.sender.answer({ kind: 'retry', reason: 'HTTP 429', retryAfterMs: 30_000 });
    register(h, A, MAC, { webpush: { endpoint: ENDPOINT, keys: KEYS } });
    await h.advance(WINDOW);
    h.change(A, 9);
    await h.advance(20_000);
    assert.equal(pushes(h).length, 1, 'not before Retry-After');
    await h.advance(11_000);
    assert.deepEqual(
      pushes(h).map((p) => p.badge),
      [0, 9],
    );
  });
});
