/**
 * Revocation that holds (SPEC AUTH-7, AUTH-8): a token's `iat` is a whole second not in the
 * future, a token issued in or before a sign-out's second never opens again — not after the
 * device is signed in again either — and only a token issued after the sign-out (or the API
 * key) can sign the device back in.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { connectDevice, synced, waitFor } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { upgradeStatus } from '../helpers/upgrade-status.js';

/** A device token for (account, device) with the given `iat` (seconds, fractional allowed). */
function tokenWithIat(server: ServerProcess, account: string, device: string, iat: number): Promise<string> {
  return new SignJWT({ sub: account, did: device, iat, exp: Math.floor(Date.now() / 1000) + 3600 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(server.deviceSecret));
}

/** Waits until the wall clock is in a new second, then a little into it. */
async function nextSecond(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 50);
}

describe('revocation that holds', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[AUTH-7] a fractional iat, minted in the second of a sign-out, neither opens nor re-registers', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/fay/devices/tab', {})).status, 200);
    await nextSecond();
    const second = Math.floor(Date.now() / 1000);
    const fractional = await tokenWithIat(server, 'fay', 'tab', second + 0.5);
    assert.equal((await api(server, 'DELETE', '/v1/accounts/fay/devices/tab')).status, 200);
    assert.equal(await upgradeStatus(server, 'fay', fractional), 401);
    const put = await api(server, 'PUT', '/v1/accounts/fay/devices/tab', {}, fractional);
    assert.equal(put.status, 401, 'nor signs the device back in');
    // Even with no sign-out at all, a fractional iat is not a token.
    assert.equal(await upgradeStatus(server, 'fay', await tokenWithIat(server, 'fay', 'other', second + 0.5)), 401);
  });

  test('[AUTH-7] an iat in the future (beyond the clock skew) neither opens nor registers', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/gus/devices/tab', {})).status, 200);
    const future = await tokenWithIat(server, 'gus', 'tab', Math.floor(Date.now() / 1000) + 3600);
    assert.equal(await upgradeStatus(server, 'gus', future), 401, 'refused even before any sign-out');
    assert.equal((await api(server, 'DELETE', '/v1/accounts/gus/devices/tab')).status, 200);
    assert.equal(await upgradeStatus(server, 'gus', future), 401);
    assert.equal((await api(server, 'PUT', '/v1/accounts/gus/devices/tab', {}, future)).status, 401);
  });

  test('[AUTH-8][AUTH-4] a token from before the sign-out stays revoked after the device is signed in again', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/hal/devices/tab', { badges: true })).status, 200);
    const old = await deviceToken(server, 'hal', 'tab');
    const tab = await connectDevice(server, 'hal', 'tab', { token: old });
    await synced(tab);
    await nextSecond();
    assert.deepEqual((await api(server, 'DELETE', '/v1/accounts/hal/devices/tab')).body, { signedOut: true });
    await waitFor(() => tab.closes.some((c) => c.code === 4401), 5000, 'close 4401');
    tab.destroy();
    assert.equal(await upgradeStatus(server, 'hal', old), 401);
    assert.equal((await api(server, 'PUT', '/v1/accounts/hal/devices/tab', {}, old)).status, 401);

    // The API key may always register; the old token stays revoked.
    assert.equal((await api(server, 'PUT', '/v1/accounts/hal/devices/tab', {})).status, 200);
    assert.equal(await upgradeStatus(server, 'hal', old), 401, 'signing in again does not revive it');
    assert.equal((await api(server, 'PUT', '/v1/accounts/hal/devices/tab', {}, old)).status, 401);

    // A token issued after the sign-out opens and may re-register.
    await nextSecond();
    const fresh = await deviceToken(server, 'hal', 'tab');
    assert.equal(await upgradeStatus(server, 'hal', fresh), 101);
    assert.equal((await api(server, 'PUT', '/v1/accounts/hal/devices/tab', {}, fresh)).status, 200);
    assert.equal(await upgradeStatus(server, 'hal', old), 401, 'and its registration revives nothing either');
  });

  test('[AUTH-8] a device token issued after a sign-out signs the device back in; one from before cannot', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/ida/devices/tab', {})).status, 200);
    const old = await deviceToken(server, 'ida', 'tab');
    await nextSecond();
    assert.equal((await api(server, 'DELETE', '/v1/accounts/ida/devices/tab')).status, 200);
    assert.equal((await api(server, 'PUT', '/v1/accounts/ida/devices/tab', {}, old)).status, 401);
    await nextSecond();
    const fresh = await deviceToken(server, 'ida', 'tab');
    assert.equal((await api(server, 'PUT', '/v1/accounts/ida/devices/tab', {}, fresh)).status, 200);
    assert.deepEqual((await api(server, 'DELETE', '/v1/accounts/ida/devices/tab')).body, { signedOut: true });
  });
});
