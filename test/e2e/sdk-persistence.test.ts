import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BadgeSyncHttpError, MemoryStorage } from '@badgesync/client';
import { FileStorage } from '@badgesync/client/node';
import { type DeviceId, deviceRoot, KeyValueArray, packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { sdkDevice, until } from '../demo/sdk-device.js';
import { Tunnel } from '../demo/tunnel.js';
import { api, badge } from '../helpers/api-client.js';
import { connectDevice, synced } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

describe('SDK: persistence and fresh replicas', () => {
  let server: ServerProcess;
  let folder: string;
  const tunnels: Tunnel[] = [];
  beforeAll(async () => {
    server = await startServer();
    folder = mkdtempSync(path.join(tmpdir(), 'badgesync-sdk-'));
  });
  afterAll(async () => {
    await Promise.all(tunnels.map((t) => t.close()));
    await stopAll();
    rmSync(folder, { recursive: true, force: true });
  });

  async function cutTunnel(): Promise<Tunnel> {
    const link = await Tunnel.open(server.port);
    tunnels.push(link);
    link.cut();
    return link;
  }

  test('[SDK-7][SDK-12] a restarted SDK on the same folder has its counts before any network, under the same client ID', async () => {
    await api(server, 'POST', '/v1/accounts/hal/items', { thread: 'inbox', count: 9 });
    await api(server, 'POST', '/v1/accounts/hal/items', { thread: 'news', count: 2 });
    const dir = path.join(folder, 'restart');
    const first = await sdkDevice({ server, account: 'hal', device: 'mac', storage: new FileStorage(dir) });
    await first.account.whenSynced(5000);
    first.account.markRead('inbox', 4);
    first.account.mute('news', true);
    const before = first.account.counts();
    await first.close();

    const link = await cutTunnel();
    const second = await sdkDevice({
      server,
      account: 'hal',
      device: 'mac',
      storage: new FileStorage(dir),
      serverUrl: link.url,
    });
    try {
      assert.deepEqual(second.account.counts(), before, 'counts from the file, no network');
      assert.deepEqual(before, { badge: 5, threads: { inbox: 5, news: 2 }, muted: ['news'] });
      assert.equal(second.account.syncedOnce, true, '"synced once" persisted with the state');
      assert.equal(second.account.clientIdReused, true, 'the first closed cleanly: its client ID is reused (SDK-12)');
      assert.notEqual(second.account.status.state, 'synced');
      second.account.markRead('inbox', 9);
      assert.equal(second.account.pendingWrites, 0, 'a replica that synced before writes at once, offline');
      assert.equal(second.sync.badge, 0);
      assert.equal((await badge(server, 'hal')).badge, 5);
      link.restore();
      await second.account.whenSynced(5000);
      await until(async () => (await badge(server, 'hal')).badge === 0, 5000, 'the offline read arrives');
    } finally {
      await second.close();
    }
  });

  test('[SDK-2] on v2 a stock writer that writes before its first sync lowers nothing: the largest entry of the device counts', async () => {
    await api(server, 'POST', '/v1/accounts/ivy/items', { thread: 'inbox', count: 8 });
    const old = await connectDevice(server, 'ivy', 'phone');
    await synced(old);
    new KeyValueArray(old.doc, deviceRoot('phone' as DeviceId)).set('inbox', packMarker(0, 5));
    await until(async () => (await badge(server, 'ivy')).badge === 3, 5000, 'marker 5 on the server');
    old.destroy();
    // The reinstall writes a lower marker into an empty document before it synced (v1 refused
    // it; v2 keeps it beside the 5 it never saw, which still counts).
    const naive = await connectDevice(server, 'ivy', 'phone', { connect: false });
    new KeyValueArray(naive.doc, deviceRoot('phone' as DeviceId)).set('inbox', packMarker(0, 3));
    naive.provider.connect();
    await synced(naive);
    await until(
      () => naive.doc.getArray(deviceRoot('phone' as DeviceId)).length === 2,
      5000,
      "the server's entry arrives beside the naive one",
    );
    assert.deepEqual(naive.closes, [], 'not refused');
    assert.equal((await badge(server, 'ivy')).badge, 3, 'nothing lowered');
    naive.destroy();
  });

  test('[SDK-2] a fresh replica of a device whose marker is 5 queues reads until synced; nothing lowers, no 4403', async () => {
    await api(server, 'POST', '/v1/accounts/jay/items', { thread: 'inbox', count: 8 });
    const installed = await sdkDevice({ server, account: 'jay', device: 'phone' });
    await installed.account.whenSynced(5000);
    installed.account.markRead('inbox', 5);
    await until(async () => (await badge(server, 'jay')).badge === 3, 5000, 'marker 5 on the server');
    await installed.close();

    const link = await cutTunnel();
    const reinstalled = await sdkDevice({
      server,
      account: 'jay',
      device: 'phone',
      storage: new MemoryStorage(),
      serverUrl: link.url,
    });
    try {
      assert.equal(reinstalled.account.syncedOnce, false);
      reinstalled.account.markRead('inbox', 3);
      assert.equal(reinstalled.account.pendingWrites, 1, 'queued, not written');
      link.restore();
      await reinstalled.account.whenSynced(5000);
      await until(() => reinstalled.account.pendingWrites === 0, 5000, 'queue applied');
      assert.equal(reinstalled.account.unread('inbox'), 3, 'the read of 3 did not lower 5');
      reinstalled.account.markRead('inbox', 7);
      await until(async () => (await badge(server, 'jay')).badge === 1, 5000, 'later reads extend the marker');
      assert.ok(!reinstalled.statuses.some((s) => s.state === 'error'), 'no 4403');
      assert.equal(reinstalled.account.status.state, 'synced');
    } finally {
      await reinstalled.close();
    }
  });

  test('[SDK-2] queued writes survive a restart before the first sync', async () => {
    await api(server, 'POST', '/v1/accounts/kim/items', { thread: 'inbox', count: 4 });
    const dir = path.join(folder, 'queued');
    const link = await cutTunnel();
    const first = await sdkDevice({
      server,
      account: 'kim',
      device: 'ipad',
      storage: new FileStorage(dir),
      serverUrl: link.url,
    });
    first.account.markRead('inbox', 3);
    first.account.mute('inbox', true);
    assert.equal(first.account.pendingWrites, 2);
    await first.close();
    const second = await sdkDevice({ server, account: 'kim', device: 'ipad', storage: new FileStorage(dir) });
    try {
      assert.equal(second.account.pendingWrites, 2, 'the queue was stored');
      await second.account.whenSynced(5000);
      await until(
        async () => {
          const answer = await badge(server, 'kim');
          return answer.threads.inbox === 1 && answer.muted.includes('inbox');
        },
        5000,
        'both queued writes arrive',
      );
    } finally {
      await second.close();
    }
  });

  test('[SDK-9] registerPush registers the device with its own token', async () => {
    const phone = await sdkDevice({ server, account: 'lea', device: 'phone' });
    try {
      await phone.sync.registerPush({ apnsToken: 'ab'.repeat(32), environment: 'sandbox', badges: true });
      const device = await phone.account.registerPush({
        apnsToken: 'cd'.repeat(32),
        environment: 'production',
        topic: 'com.example.app',
        badges: false,
      });
      assert.deepEqual(
        { token: device.apnsToken, env: device.environment, topic: device.topic, badges: device.badges },
        { token: 'cd'.repeat(32), env: 'production', topic: 'com.example.app', badges: false },
      );
      await assert.rejects(
        phone.account.registerPush({ apnsToken: 'not hex', environment: 'sandbox', badges: true }),
        (err: unknown) => err instanceof BadgeSyncHttpError && err.status === 400 && err.code === 'invalid_body',
      );
    } finally {
      await phone.close();
    }
  });
});
