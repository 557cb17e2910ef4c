import assert from 'node:assert/strict';
import { BadgeSync, MemoryStorage } from '@badgesync/client';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { WebSocket } from 'ws';
import { sdkDevice, until } from '../demo/sdk-device.js';
import { api, badge, deviceToken } from '../helpers/api-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

describe('SDK: close codes', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[SDK-3] 4401: a fresh token from getToken, then synced again; writes keep flowing', async () => {
    await api(server, 'POST', '/v1/accounts/eve/items', { thread: 'inbox', count: 6 });
    let calls = 0;
    const phone = await sdkDevice({
      server,
      account: 'eve',
      device: 'phone',
      // The first token lives 2 s; the ones after it an hour.
      getToken: () => deviceToken(server, 'eve', 'phone', calls++ === 0 ? 2 : 3600),
    });
    try {
      await phone.account.whenSynced(5000);
      phone.account.markRead('inbox', 1);
      await until(
        () => phone.statuses.some((s) => s.state === 'offline' && s.lastClose?.code === 4401),
        6000,
        'the server closes with 4401 at exp',
      );
      await until(() => phone.account.status.state === 'synced', 5000, 'synced with the new token');
      assert.equal(phone.tokens.length, 2, 'one refresh');
      assert.ok(!phone.statuses.some((s) => s.state === 'error'), 'never an error');
      phone.account.markRead('inbox', 4);
      await until(async () => (await badge(server, 'eve')).badge === 2, 5000, 'the server has both reads');
    } finally {
      await phone.close();
    }
  });

  test('[SDK-3] 4401 with a fixed token and no getToken stops with an error the app can show', async () => {
    const sync = new BadgeSync({
      serverUrl: server.syncUrl,
      deviceId: 'tablet',
      storage: new MemoryStorage(),
      WebSocket,
      backoff: { baseMs: 50, capMs: 500 },
    });
    try {
      const account = await sync.signIn('eve', { token: await deviceToken(server, 'eve', 'tablet', 1) });
      await until(() => account.status.state === 'error', 6000, 'error after the token expired');
      assert.deepEqual(
        { state: account.status.state, code: account.status.state === 'error' ? account.status.code : 0 },
        { state: 'error', code: 4401 },
      );
      assert.equal(await sync.signIn('eve', { token: await deviceToken(server, 'eve', 'tablet') }), account);
      await account.whenSynced(5000);
    } finally {
      await sync.close();
    }
  });

  test('[SDK-3] 4403: a write the server refuses stops the account with the reason; no reconnect', async () => {
    await api(server, 'POST', '/v1/accounts/fay/items', { thread: 'inbox', count: 3 });
    // An app bug: the token names another device, so this device's marker is not its to write.
    const mac = await sdkDevice({
      server,
      account: 'fay',
      device: 'mac',
      getToken: () => deviceToken(server, 'fay', 'not-the-mac'),
    });
    try {
      await mac.account.whenSynced(5000);
      mac.account.markRead('inbox', 3);
      await until(() => mac.account.status.state === 'error', 5000, 'stopped');
      const status = mac.account.status;
      assert.ok(status.state === 'error');
      assert.equal(status.code, 4403);
      assert.match(status.reason, /foreign_marker/);
      const seen = mac.statuses.length;
      await new Promise((resolve) => setTimeout(resolve, 800));
      assert.equal(mac.statuses.length, seen, 'no reconnect after 4403');
      assert.equal(mac.tokens.length, 1);
      assert.equal((await badge(server, 'fay')).badge, 3, 'nothing of the refused write');
      await assert.rejects(mac.account.whenSynced(100), /4403/);
    } finally {
      await mac.close();
    }
  });

  test('[SDK-3] 4413: an update over the server limit stops the account', async () => {
    const small = await startServer({ env: { BADGESYNC_MAX_MESSAGE_BYTES: '2048' } });
    // 60 markers of long thread names: one update of about 4 KB.
    const threads = Array.from(
      { length: 60 },
      (_, i) => `a-thread-with-a-rather-long-name-${String(i).padStart(3, '0')}`,
    );
    await Promise.all(threads.map((thread) => api(small, 'POST', '/v1/accounts/gus/items', { thread, count: 2 })));
    const phone = await sdkDevice({ server: small, account: 'gus', device: 'phone' });
    try {
      await phone.account.whenSynced(5000);
      assert.equal(phone.account.badge, 120);
      phone.account.markAllRead();
      await until(() => phone.account.status.state === 'error', 5000, 'stopped');
      assert.deepEqual(phone.account.status.state === 'error' && phone.account.status.code, 4413);
      assert.equal((await badge(small, 'gus')).badge, 120);
    } finally {
      await phone.close();
    }
  });
});
