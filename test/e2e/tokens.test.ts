/**
 * Device tokens on the sync endpoint: refused before the upgrade with a JSON error in the
 * contract's shape, and a token that expires (or a device signed out) while connected is
 * closed with 4401.
 */
import assert from 'node:assert/strict';
import { deriveCounts } from '@badgesync/shared';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { WebSocket } from 'ws';
import { api, deviceToken } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { headOf } from '../helpers/entries.js';
import { synced, waitFor } from '../helpers/providers.js';
import { refusedUpgrade, type UpgradeRefusal } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

/** Signs arbitrary claims with `secret` (HS256 unless the header says otherwise). */
function sign(
  secret: string,
  claims: Record<string, unknown>,
  expiresInSeconds: number | null = 3600,
): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (expiresInSeconds !== null) jwt = jwt.setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** An unsigned token (`alg: none`), built by hand: jose refuses to make one. */
function unsigned(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

function assertContractError(answer: UpgradeRefusal, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.match(answer.contentType ?? '', /^application\/json/);
  const body = answer.body as { error?: { code?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error?.code, code);
  const message = body.error?.message;
  assert.ok(typeof message === 'string' && message.length > 0, 'a message for a person');
}

describe('device tokens on the sync endpoint', () => {
  let server: ServerProcess;
  const url = (account: string, token?: string) =>
    `${server.syncUrl}/${account}${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`;
  const exp = () => Math.floor(Date.now() / 1000) + 3600;

  beforeAll(async () => {
    server = await startServer();
  });
  const devices = new DeviceSet();
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  test('[AUTH-1] no token → 401 before the upgrade', async () => {
    assertContractError(await refusedUpgrade(url('ann')), 401, 'unauthorized');
  });

  test('[AUTH-1] a token signed with another secret → 401', async () => {
    const forged = await sign('not-the-device-secret', { sub: 'ann', did: 'phone' });
    assertContractError(await refusedUpgrade(url('ann', forged)), 401, 'unauthorized');
  });

  test('[AUTH-1] an unsigned (alg none) token → 401', async () => {
    assertContractError(
      await refusedUpgrade(url('ann', unsigned({ sub: 'ann', did: 'phone', exp: exp() }))),
      401,
      'unauthorized',
    );
  });

  test('[AUTH-1] a token without exp → 401', async () => {
    const forever = await sign(server.deviceSecret, { sub: 'ann', did: 'phone' }, null);
    assertContractError(await refusedUpgrade(url('ann', forever)), 401, 'unauthorized');
  });

  test('[AUTH-1] garbage in place of a token → 401', async () => {
    assertContractError(await refusedUpgrade(url('ann', 'not.a.jwt')), 401, 'unauthorized');
  });

  test('[AUTH-1] an expired token → 401', async () => {
    const expired = await deviceToken(server, 'ann', 'phone', -10);
    assertContractError(await refusedUpgrade(url('ann', expired)), 401, 'unauthorized');
  });

  test('[AUTH-2] a token for another account → 403', async () => {
    const bobs = await deviceToken(server, 'bob', 'phone');
    assertContractError(await refusedUpgrade(url('ann', bobs)), 403, 'forbidden');
  });

  test('[AUTH-1] a token naming the reserved device @server → 401', async () => {
    const server_ = await sign(server.deviceSecret, { sub: 'ann', did: '@server' });
    assertContractError(await refusedUpgrade(url('ann', server_)), 401, 'unauthorized');
  });

  test('[AUTH-1] a token with an invalid device ID → 401', async () => {
    const slash = await sign(server.deviceSecret, { sub: 'ann', did: 'a/b' });
    assertContractError(await refusedUpgrade(url('ann', slash)), 401, 'unauthorized');
  });

  test('[SYNC-1][API-7] an invalid account ID in the sync path → 400 invalid_id', async () => {
    const token = await deviceToken(server, 'ann', 'phone');
    assertContractError(await refusedUpgrade(url('a%2Fb', token)), 400, 'invalid_id');
  });

  test('[AUTH-1] the token may also come as Authorization: Bearer', async () => {
    const token = await deviceToken(server, 'ann', 'phone');
    const refused = await refusedUpgrade(url('ann'), { authorization: 'Bearer nope' });
    assertContractError(refused, 401, 'unauthorized');
    const ws = new WebSocket(url('ann'), { headers: { authorization: `Bearer ${token}` } });
    ws.on('error', () => {});
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('unexpected-response', () => resolve(false));
    });
    ws.terminate();
    assert.ok(opened, 'a good bearer token opens the socket');
  });

  test('[AUTH-3][CLOSE-2] a token that expires while connected → closed with 4401 within seconds', async () => {
    await api(server, 'POST', '/v1/accounts/carol/items', { thread: 'inbox', count: 2 });
    const token = await deviceToken(server, 'carol', 'phone', 2);
    const phone = await devices.connect(server, 'carol', 'phone', { token });
    await synced(phone);
    assert.equal(deriveCounts(phone.doc).badge, 2);
    // exp has one-second resolution: the close is due 1–2 s from now; allow a loaded machine 6 s more.
    await waitFor(() => phone.closes.length > 0, 8000, 'the expiry close');
    assert.deepEqual(
      phone.closes.map((c) => c.code),
      [4401],
    );
    assert.equal(phone.provider.shouldConnect, false, 'a stock provider waits for a new token');
    devices.destroy(phone);
    // The same token cannot come back.
    assertContractError(await refusedUpgrade(url('carol', token)), 401, 'unauthorized');
  });

  test('[AUTH-3] a token valid for months keeps its connection (no timer overflow)', async () => {
    // Beyond 2^31 − 1 ms (24.8 days) a Node timer fires at once: a naive expiry timer
    // would close a long-lived device token right away with 4401.
    const token = await deviceToken(server, 'faye', 'phone', 90 * 24 * 3600);
    const phone = await devices.connect(server, 'faye', 'phone', { token });
    await synced(phone);
    await api(server, 'POST', '/v1/accounts/faye/items', { thread: 't', count: 3 });
    await waitFor(() => headOf(phone.doc, 't') === 3, 5000, 'the phone to get the items');
    assert.deepEqual(phone.closes, [], 'still connected');
    assert.ok(phone.provider.wsconnected);
    devices.destroy(phone);
  });

  test('[AUTH-4][CLOSE-2] signing a device out closes its connection with 4401; its other accounts stay', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/dan/devices/phone', {})).status, 200);
    assert.equal((await api(server, 'PUT', '/v1/accounts/erin/devices/phone', {})).status, 200);
    const dan = await devices.connect(server, 'dan', 'phone');
    const erin = await devices.connect(server, 'erin', 'phone');
    const danMac = await devices.connect(server, 'dan', 'mac');
    await Promise.all([synced(dan), synced(erin), synced(danMac)]);
    const out = await api(server, 'DELETE', '/v1/accounts/dan/devices/phone');
    assert.deepEqual(out, { status: 200, body: { signedOut: true } });
    await waitFor(() => dan.closes.length > 0, 5000, 'the signed-out connection to close');
    assert.equal(dan.closes[0]?.code, 4401);
    // The same device's connection to another account, and another device of dan, stay.
    await api(server, 'POST', '/v1/accounts/erin/items', { thread: 't' });
    await api(server, 'POST', '/v1/accounts/dan/items', { thread: 't' });
    await waitFor(() => headOf(erin.doc, 't') === 1, 5000, 'erin’s phone still syncing');
    await waitFor(() => headOf(danMac.doc, 't') === 1, 5000, 'dan’s mac still syncing');
    assert.deepEqual(erin.closes, []);
    assert.deepEqual(danMac.closes, []);
    for (const device of [dan, erin, danMac]) devices.destroy(device);
  });
});
