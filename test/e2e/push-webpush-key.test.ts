/**
 * The VAPID public key a web app subscribes with (SPEC API-20, PUSH-20): generated on the
 * first start and kept across restarts, or configured; served to the API key and to device
 * tokens, never to nobody.
 */
import assert from 'node:assert/strict';
import { createECDH } from 'node:crypto';
import { afterAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { startServer, stopAll } from '../helpers/server-process.js';

const PATH = '/v1/push/webpush-key';

describe('GET /v1/push/webpush-key', () => {
  afterAll(stopAll);

  test('[API-20][PUSH-20] a generated key is served to the API key and to a device token, and survives a restart', async () => {
    const server = await startServer();
    const byKey = await api<{ publicKey: string }>(server, 'GET', PATH);
    assert.equal(byKey.status, 200);
    const point = Buffer.from(byKey.body.publicKey, 'base64url');
    assert.equal(point.length, 65);
    assert.equal(point[0], 4);
    const token = await deviceToken(server, 'web', 'tab');
    assert.deepEqual((await api(server, 'GET', PATH, undefined, token)).body, byKey.body);
    assert.equal(server.logs.filter((l) => l.msg === 'Web Push VAPID key pair generated and stored').length, 1);
    await server.stop();
    const again = await server.restart();
    assert.deepEqual((await api(again, 'GET', PATH)).body, byKey.body, 'the stored pair, not a new one');
    assert.equal(again.logs.filter((l) => l.msg === 'Web Push VAPID key pair generated and stored').length, 0);
  });

  test('[API-20] no credential, a wrong one or a signed-out device: 401; POST: 405', async () => {
    const server = await startServer();
    assert.equal((await api(server, 'GET', PATH, undefined, null)).status, 401);
    assert.equal((await api(server, 'GET', PATH, undefined, 'not-a-key')).status, 401);
    const token = await deviceToken(server, 'web', 'gone');
    assert.equal((await api(server, 'DELETE', '/v1/accounts/web/devices/gone')).status, 200);
    assert.equal((await api(server, 'GET', PATH, undefined, token)).status, 401);
    assert.equal((await api(server, 'POST', PATH, {})).status, 405);
  });

  test('[PUSH-20] a configured pair is served; half a pair stops the start', async () => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const pair = {
      publicKey: ecdh.getPublicKey().toString('base64url'),
      privateKey: Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()])
        .subarray(-32)
        .toString('base64url'),
    };
    const server = await startServer({
      env: { BADGESYNC_VAPID_PUBLIC_KEY: pair.publicKey, BADGESYNC_VAPID_PRIVATE_KEY: pair.privateKey },
    });
    assert.deepEqual((await api(server, 'GET', PATH)).body, { publicKey: pair.publicKey });
    await assert.rejects(
      startServer({ env: { BADGESYNC_VAPID_PUBLIC_KEY: pair.publicKey } }),
      /BADGESYNC_VAPID_PRIVATE_KEY/,
    );
  });

  test('[API-20] preflights: an allowed origin may GET it with its token, any other is refused', async () => {
    const app = 'http://app.example:8443';
    const server = await startServer({ env: { BADGESYNC_CORS_ORIGINS: app } });
    const preflight = (origin: string) =>
      fetch(`${server.http}${PATH}`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
    const allowed = await preflight(app);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), app);
    assert.equal(allowed.headers.get('access-control-allow-methods'), 'GET');
    const refused = await preflight('http://stranger.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    const token = await deviceToken(server, 'web', 'tab');
    const get = await fetch(`${server.http}${PATH}`, { headers: { origin: app, authorization: `Bearer ${token}` } });
    assert.equal(get.status, 200);
    assert.equal(get.headers.get('access-control-allow-origin'), app);
  });
});
