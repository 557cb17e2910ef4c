import assert from 'node:assert/strict';
import { SILENT_LINK } from '@badgesync/client';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { sdkDevice, until } from '../demo/sdk-device.js';
import { Tunnel } from '../demo/tunnel.js';
import { api, badge } from '../helpers/api-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

describe('SDK: two devices, online and offline', () => {
  let server: ServerProcess;
  const tunnels: Tunnel[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await Promise.all(tunnels.map((t) => t.close()));
    await stopAll();
  });

  async function tunnel(port = server.port): Promise<Tunnel> {
    const opened = await Tunnel.open(port);
    tunnels.push(opened);
    return opened;
  }

  test('[SDK-1] a read on one device reaches the other and the server', async () => {
    await api(server, 'POST', '/v1/accounts/ann/items', { thread: 'inbox', count: 5 });
    const mac = await sdkDevice({ server, account: 'ann', device: 'mac' });
    const phone = await sdkDevice({ server, account: 'ann', device: 'phone' });
    try {
      await Promise.all([mac.account.whenSynced(5000), phone.account.whenSynced(5000)]);
      assert.equal(mac.account.badge, 5);
      assert.equal(phone.sync.badge, 5);
      mac.account.markRead('inbox', 3);
      assert.equal(mac.account.badge, 2, 'local counts change at once');
      await until(() => phone.account.badge === 2, 5000, 'phone sees the read');
      assert.equal((await badge(server, 'ann')).badge, 2);
      phone.account.mute('inbox', true);
      await until(() => mac.account.isMuted('inbox') && mac.account.badge === 0, 5000, 'mac sees the mute');
      assert.deepEqual((await badge(server, 'ann')).muted, ['inbox']);
      phone.account.mute('inbox', false);
      phone.account.markAllRead();
      await until(() => mac.account.unread('inbox') === 0 && !mac.account.isMuted('inbox'), 5000, 'all read');
      assert.equal((await badge(server, 'ann')).badge, 0);
      mac.account.markUnread('inbox', 4);
      await until(() => phone.account.unread('inbox') === 2, 5000, 'phone sees mark-as-unread');
      assert.equal((await badge(server, 'ann')).badge, 2);
    } finally {
      await Promise.all([mac.close(), phone.close()]);
    }
  });

  test('[SDK-4] reads made offline arrive on reconnect; the stale device raises no count', async () => {
    await api(server, 'POST', '/v1/accounts/bea/items', { thread: 'inbox', count: 10 });
    await api(server, 'POST', '/v1/accounts/bea/items', { thread: 'news', count: 4 });
    const link = await tunnel();
    const mac = await sdkDevice({ server, account: 'bea', device: 'mac' });
    const ipad = await sdkDevice({ server, account: 'bea', device: 'ipad', serverUrl: link.url });
    const macBadges: number[] = [];
    mac.sync.on('counts', (event) => macBadges.push(event.deviceBadge));
    try {
      await Promise.all([mac.account.whenSynced(5000), ipad.account.whenSynced(5000)]);
      assert.equal(ipad.account.badge, 14);

      link.cut();
      await until(() => ipad.account.status.state !== 'synced', 5000, 'ipad offline');
      ipad.account.markRead('inbox', 6);
      assert.equal(ipad.account.badge, 8, 'offline counts are right at once');
      mac.account.markRead('inbox', 8);
      await api(server, 'POST', '/v1/accounts/bea/items', { thread: 'news', count: 2 });
      await until(() => mac.account.badge === 8, 5000, 'mac sees the new items');
      assert.equal((await badge(server, 'bea')).badge, 8, 'the server did not see the offline read');
      assert.equal(ipad.account.badge, 8, 'ipad: inbox 4 + news 4, from its stale view');

      link.restore();
      await ipad.account.whenSynced(5000);
      await until(() => ipad.account.unread('news') === 6, 5000, 'ipad catches up');
      assert.deepEqual(ipad.account.counts(), mac.account.counts());
      assert.deepEqual(mac.account.counts().threads, { inbox: 2, news: 6 });
      assert.equal((await badge(server, 'bea')).badge, 8);
      const raised = macBadges.filter((value, i) => i > 0 && value > (macBadges[i - 1] as number));
      assert.deepEqual(raised, [8], 'the mac badge rose only when the two news items arrived (6 → 8)');
    } finally {
      await Promise.all([mac.close(), ipad.close()]);
    }
  });

  test('[SDK-5] a dead link (nothing gets through) is noticed by the app-level heartbeat', async () => {
    await api(server, 'POST', '/v1/accounts/cat/items', { thread: 'inbox', count: 3 });
    const link = await tunnel();
    const ipad = await sdkDevice({ server, account: 'cat', device: 'ipad', serverUrl: link.url, heartbeatMs: 300 });
    try {
      await ipad.account.whenSynced(5000);
      const frozenAt = Date.now();
      link.freeze();
      await until(() => ipad.account.status.state !== 'synced', 5000, 'ipad notices the dead link');
      const noticedMs = Date.now() - frozenAt;
      // Two to two and a half heartbeats after the last frame heard, which may precede the freeze.
      assert.ok(noticedMs < 2000, `noticed after ${noticedMs} ms`);
      const offline = ipad.statuses.find((s) => s.state === 'offline' && s.lastClose?.code === SILENT_LINK);
      assert.ok(offline, 'offline because the link went silent');
      ipad.account.markRead('inbox', 2);
      link.restore();
      await ipad.account.whenSynced(5000);
      await until(() => ipad.account.status.state === 'synced', 5000, 'synced again');
      await until(async () => (await badge(server, 'cat')).badge === 1, 5000, 'server has the read');
    } finally {
      await ipad.close();
    }
  });

  test('[SDK-6] a server restart (1001) is followed by a reconnect; writes made meanwhile arrive', async () => {
    const own = await startServer();
    await api(own, 'POST', '/v1/accounts/dan/items', { thread: 'inbox', count: 4 });
    const link = await tunnel(own.port);
    const phone = await sdkDevice({ server: own, account: 'dan', device: 'phone', serverUrl: link.url });
    try {
      await phone.account.whenSynced(5000);
      await own.stop();
      await until(() => phone.account.status.state === 'offline', 5000, 'phone offline');
      assert.ok(phone.statuses.some((s) => s.state === 'offline' && s.lastClose?.code === 1001));
      phone.account.markRead('inbox', 3);
      const again = await own.restart();
      link.retarget(again.port);
      await until(() => phone.account.status.state === 'synced', 10_000, 'phone reconnects');
      await until(async () => (await badge(again, 'dan')).badge === 1, 5000, 'restarted server has the read');
    } finally {
      await phone.close();
    }
  });
});
