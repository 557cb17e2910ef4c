import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { connectDevice, synced, waitFor } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { upgradeStatus } from '../helpers/upgrade-status.js';

describe('signing a device out', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[AUTH-4][AUTH-8] DELETE closes the live connection with 4401 and revokes tokens issued before it', async () => {
    assert.equal((await api(server, 'PUT', '/v1/accounts/sam/devices/tab', { badges: true })).status, 200);
    const oldToken = await deviceToken(server, 'sam', 'tab');
    const tab = await connectDevice(server, 'sam', 'tab', { token: oldToken });
    await synced(tab);
    // iat has second precision: make the sign-out strictly later than the old token.
    await sleep(1100);
    const out = await api(server, 'DELETE', '/v1/accounts/sam/devices/tab');
    assert.deepEqual(out.body, { signedOut: true });
    await waitFor(() => tab.closes.some((c) => c.code === 4401), 5000, 'close 4401');
    tab.destroy();

    assert.equal(await upgradeStatus(server, 'sam', oldToken), 401, 'the old token no longer opens a connection');
    const asDevice = await api(server, 'PUT', '/v1/accounts/sam/devices/tab', {}, oldToken);
    assert.equal(asDevice.status, 401, 'nor signs the device back in');

    await sleep(1100);
    const fresh = await deviceToken(server, 'sam', 'tab');
    assert.equal(await upgradeStatus(server, 'sam', fresh), 101, 'a token issued after the sign-out works');
    assert.equal((await api(server, 'PUT', '/v1/accounts/sam/devices/tab', {}, oldToken)).status, 401);
    assert.equal((await api(server, 'PUT', '/v1/accounts/sam/devices/tab', {})).status, 200, 'the backend signs it in');
    assert.equal(await upgradeStatus(server, 'sam', oldToken), 401, 'signed in again: tokens from before stay revoked');
  });
});
