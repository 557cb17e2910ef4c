/**
 * What a badge push looks like on the wire, as the test APNs server receives it from the real
 * server process through apns2: a badge-only payload, push type alert, a collapse id, the
 * device's topic, one HTTP/2 connection per APNs environment.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import type { ApnsRequestRecord } from '../helpers/apns-test-server.js';
import { DEFAULT_TOPIC, delivered, post, register, usePushRig, waitForBadge } from '../helpers/push-rig.js';

/** Apple keeps a push for an offline device up to 30 days; the server asks for 28. */
const DAY_SECONDS = 24 * 60 * 60;

describe('push: the APNs request', () => {
  // The watch app and the dev build have bundle ids of their own (SPEC API-9).
  const ctx = usePushRig({ BADGESYNC_APNS_TOPICS: 'com.example.badgesync.watchkitapp,com.example.dev' });

  function last(token: string): ApnsRequestRecord {
    const request = ctx.rig.apns.requestsFor(token).at(-1);
    assert.ok(request, `a request for ${token}`);
    return request;
  }

  test('[PUSH-2] a badge-only payload: aps.badge and nothing else, push type alert, a collapse id', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'ann', 'ann-phone');
    await post(server, 'ann', 'inbox', 7);
    await waitForBadge(apns, phone, 7);
    const request = last(phone);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/3/device/${phone}`);
    assert.deepEqual(request.payload, { aps: { badge: 7 } }, 'no alert, no sound, no content-available');
    assert.equal(request.headers['apns-push-type'], 'alert');
    const collapseId = request.headers['apns-collapse-id'];
    assert.ok(collapseId !== undefined && collapseId.length > 0 && Buffer.byteLength(collapseId) <= 64);
    // Priority 10 is APNs's default: sent as 10 or left out.
    assert.ok([undefined, '10'].includes(request.headers['apns-priority']), request.headers['apns-priority']);
    const expiration = Number(request.headers['apns-expiration']);
    const now = Date.now() / 1000;
    assert.ok(expiration > now + 27 * DAY_SECONDS && expiration <= now + 30 * DAY_SECONDS, `expiration ${expiration}`);
    assert.equal(request.jwt?.header.kid, apns.keyId);
    assert.equal(request.jwt?.claims.iss, apns.teamId);
    // Every push of the device carries the same collapse id: APNs keeps only the newest.
    await post(server, 'ann', 'inbox', 1);
    await waitForBadge(apns, phone, 8);
    assert.equal(last(phone).headers['apns-collapse-id'], collapseId);
  });

  test('[PUSH-2] the topic is the device’s own bundle id, else the configured one', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'bea', 'bea-phone');
    const watch = await register(server, 'bea', 'bea-watch', { topic: 'com.example.badgesync.watchkitapp' });
    await post(server, 'bea', 'inbox', 2);
    await Promise.all([waitForBadge(apns, phone, 2), waitForBadge(apns, watch, 2)]);
    assert.equal(last(phone).headers['apns-topic'], DEFAULT_TOPIC);
    assert.equal(last(watch).headers['apns-topic'], 'com.example.badgesync.watchkitapp');
    // A registration that leaves the topic out keeps it.
    await register(server, 'bea', 'bea-watch', { environment: 'production' });
    await post(server, 'bea', 'inbox', 1);
    await waitForBadge(apns, watch, 3);
    assert.equal(last(watch).headers['apns-topic'], 'com.example.badgesync.watchkitapp');
  });

  test('[PUSH-2] sandbox and production devices go over their own connection, each kept open', async () => {
    const { server, apns } = ctx.rig;
    const prod = await register(server, 'cai', 'cai-prod', { environment: 'production' });
    const dev = await register(server, 'cai', 'cai-dev', { environment: 'sandbox', topic: 'com.example.dev' });
    await post(server, 'cai', 'inbox', 1);
    await Promise.all([waitForBadge(apns, prod, 1), waitForBadge(apns, dev, 1)]);
    await post(server, 'cai', 'inbox', 1);
    await Promise.all([waitForBadge(apns, prod, 2), waitForBadge(apns, dev, 2)]);
    const prodSessions = new Set(apns.requestsFor(prod).map((r) => r.session));
    const devSessions = new Set(apns.requestsFor(dev).map((r) => r.session));
    // BADGESYNC_APNS_HOST stands for both of Apple's hosts: the environment shows as the connection.
    assert.equal(prodSessions.size, 1, 'production: one connection for every push');
    assert.equal(devSessions.size, 1, 'sandbox: one connection for every push');
    assert.notDeepEqual([...prodSessions], [...devSessions], 'sandbox pushes do not share production’s connection');
    assert.equal(last(dev).headers['apns-topic'], 'com.example.dev');
    // Every production push of this server, any device, used that one connection.
    const production = apns.requests.filter((r) => r.deviceToken !== dev).map((r) => r.session);
    assert.deepEqual(new Set(production), prodSessions);
    assert.deepEqual(delivered(apns, dev), [1, 2]);
  });

  test('[PUSH-2] a device signed out of every account is pushed 0', async () => {
    const { server, apns } = ctx.rig;
    await post(server, 'dan', 'inbox', 3);
    const phone = await register(server, 'dan', 'dan-phone');
    await waitForBadge(apns, phone, 3);
    const answer = await api(server, 'DELETE', '/v1/accounts/dan/devices/dan-phone');
    assert.deepEqual(answer.body, { signedOut: true });
    await waitForBadge(apns, phone, 0);
    assert.deepEqual(delivered(apns, phone), [3, 0]);
  });
});
