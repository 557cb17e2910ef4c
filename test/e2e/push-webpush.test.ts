/**
 * Web Push end to end (SPEC PUSH-14, PUSH-20..PUSH-22): the real server process sending to the
 * test push service, which checks each VAPID JWT and decrypts each payload with the
 * subscription's keys (held by the test). The APNs policy holds for browsers: only to devices
 * offline for the account, coalesced, deduplicated, subscriptions the service calls gone
 * dropped, 429/503 retried no sooner than Retry-After.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { connectDevice, type Device, synced } from '../helpers/providers.js';
import { FAST_PUSH_ENV, PUSH_WAIT_MS, post, waitForMetric } from '../helpers/push-rig.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { type TestSubscription, WebPushAnswers, WebPushTestServer } from '../helpers/webpush-test-server.js';

describe('push: Web Push, with a 100 ms window and 200 ms of grace', () => {
  let service: WebPushTestServer;
  let server: ServerProcess;
  let publicKey: string;
  const devices: Device[] = [];
  beforeAll(async () => {
    service = await WebPushTestServer.start();
    server = await startServer({
      env: {
        ...FAST_PUSH_ENV,
        BADGESYNC_WEBPUSH_HOSTS: service.address,
        BADGESYNC_VAPID_SUBJECT: 'mailto:ops@example.com',
        NODE_EXTRA_CA_CERTS: service.caPath,
      },
    });
    publicKey = (await api<{ publicKey: string }>(server, 'GET', '/v1/push/webpush-key')).body.publicKey;
  });
  afterAll(async () => {
    for (const device of devices) device.destroy();
    await stopAll();
    await service?.close();
  });

  /** A browser subscription made with the server's key, registered for (account, device). */
  async function subscribe(account: string, device: string, subscription = service.subscribe(publicKey)) {
    const answer = await api(server, 'PUT', `/v1/accounts/${account}/devices/${device}`, {
      platform: 'webpush',
      subscription,
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return subscription;
  }

  async function waitForBadge(subscription: TestSubscription, badge: number): Promise<void> {
    await service.waitFor(
      () => service.delivered(subscription).at(-1) === badge,
      PUSH_WAIT_MS,
      () => `badge ${badge} (delivered so far: ${service.delivered(subscription).join(', ')})`,
    );
  }

  const record = async (account: string, device: string) =>
    (await api(server, 'PUT', `/v1/accounts/${account}/devices/${device}`, {})).body;

  test('[PUSH-14][PUSH-20] only the browser offline for the account is pushed, with its badge, decrypted as sent', async () => {
    const tab = await subscribe('ann', 'ann-tab');
    const laptop = await subscribe('ann', 'ann-laptop');
    await Promise.all([waitForBadge(tab, 0), waitForBadge(laptop, 0)]);
    const online = await connectDevice(server, 'ann', 'ann-laptop');
    devices.push(online);
    await synced(online);
    const laptopBefore = service.requestsFor(laptop).length;
    assert.equal(await post(server, 'ann', 'inbox', 4), 4);
    await waitForBadge(tab, 4);
    const request = service.requestsFor(tab).at(-1);
    assert.equal(request?.refusal, null);
    assert.equal(request?.plaintext, '{"badge":4}');
    assert.equal(request?.vapidClaims?.sub, 'mailto:ops@example.com');
    // The tab's push has gone and been answered; the laptop, online, got nothing.
    assert.equal(service.requestsFor(laptop).length, laptopBefore, 'no push to a browser online for the account');
    online.destroy();
    await waitForBadge(laptop, 4);
  });

  test('[PUSH-14] coalesced and deduplicated: a burst is a push or two ending on its value; an unchanged total is not sent', async () => {
    const tab = await subscribe('bea', 'bea-tab');
    await waitForBadge(tab, 0);
    const before = service.requestsFor(tab).length;
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => post(server, 'bea', `thread-${i % 3}`)));
    }
    await waitForBadge(tab, 50);
    const burst = service.requestsFor(tab).length - before;
    assert.ok(burst >= 1 && burst < 50, `${burst} pushes for 50 changes`);
    // Dedupe: the browser connects and leaves again; after the grace period it is queued, and
    // found to have the badge the service already accepted: nothing is sent.
    const skipped = await waitForMetric(server, 'badgesync_pushes_skipped_total', { reason: 'unchanged' }, () => true);
    const count = service.requestsFor(tab).length;
    const visit = await connectDevice(server, 'bea', 'bea-tab');
    devices.push(visit);
    await synced(visit);
    visit.destroy();
    await waitForMetric(server, 'badgesync_pushes_skipped_total', { reason: 'unchanged' }, (n) => n > skipped);
    assert.equal(service.requestsFor(tab).length, count, 'the same badge is not sent twice');
  });

  for (const [name, answer, reason] of [
    ['410', WebPushAnswers.gone, 'SubscriptionGone'],
    ['404', WebPushAnswers.notFound, 'SubscriptionNotFound'],
  ] as const) {
    test(`[PUSH-21] ${name}: the subscription is not used again, until it is registered again`, async () => {
      const account = `cai-${name}`;
      const tab = await subscribe(account, `${account}-tab`);
      const witness = await subscribe(account, `${account}-witness`);
      await Promise.all([waitForBadge(tab, 0), waitForBadge(witness, 0)]);
      service.enqueue(tab, answer);
      await post(server, account, 'inbox', 1);
      await waitForBadge(witness, 1);
      await service.waitFor(
        () => service.requestsFor(tab).length === 2 && service.requestsFor(tab)[1]?.answer !== null,
      );
      await waitForMetric(server, 'badgesync_pushes_failed_total', { reason }, (n) => n >= 1);
      assert.equal((await record(account, `${account}-tab`)).tokenInvalidReason, reason);
      await post(server, account, 'inbox', 1);
      await waitForBadge(witness, 2);
      assert.equal(service.requestsFor(tab).length, 2, 'no push to a subscription the service called gone');
      await subscribe(account, `${account}-tab`, tab);
      await waitForBadge(tab, 2);
      assert.equal((await record(account, `${account}-tab`)).tokenInvalidReason, null);
    });
  }

  for (const [name, answer] of [
    ['503', WebPushAnswers.unavailable('1')],
    ['429', WebPushAnswers.tooManyRequests('1')],
  ] as const) {
    test(`[PUSH-21] ${name} with Retry-After: 1: retried no sooner than a second later, then delivered`, async () => {
      const account = `dan-${name}`;
      const tab = await subscribe(account, `${account}-tab`);
      await waitForBadge(tab, 0);
      service.enqueue(tab, answer, answer);
      await post(server, account, 'inbox', 3);
      await waitForBadge(tab, 3);
      const tries = service.requestsFor(tab).slice(-3);
      assert.deepEqual(
        tries.map((r) => r.answer?.status),
        [answer.status, answer.status, 201],
      );
      for (let i = 1; i < tries.length; i++) {
        const gap = (tries[i]?.receivedAt ?? 0) - (tries[i - 1]?.receivedAt ?? 0);
        assert.ok(gap >= 990, `try ${i + 1} came ${gap} ms after the one answered Retry-After: 1`);
      }
      await waitForMetric(server, 'badgesync_pushes_retried_total', {}, (n) => n >= 2);
    });
  }

  test('[PUSH-22] a subscription on a host the server does not post to is refused at registration', async () => {
    const answer = await api(server, 'PUT', '/v1/accounts/eve/devices/eve-tab', {
      platform: 'webpush',
      subscription: { ...service.subscribe(publicKey), endpoint: 'https://internal.example/push/1' },
    });
    assert.equal(answer.status, 400);
    assert.equal((answer.body as { error: { code: string } }).error.code, 'endpoint_not_allowed');
  });
});
