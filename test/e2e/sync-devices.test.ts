/**
 * Stock y-websocket providers as devices: several at once, one offline for a while, and all
 * of them across a server restart. Every device ends with the same state and the same
 * counts as GET /badge, no honest update is refused, and no count rises without a new item
 * or a mark-as-unread.
 */
import assert from 'node:assert/strict';
import { deriveCounts, packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { docState } from '../helpers/doc-state.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { markMuted, markRead, markUnread } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { restartOnSamePort } from '../helpers/restart.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { concat, MSG_AWARENESS, varBytes, varUint } from '../helpers/wire.js';

const same = (a: Device, b: Device) => JSON.stringify(docState(a.doc)) === JSON.stringify(docState(b.doc));

/** Waits until every device holds the same state, then checks it against GET /badge. */
async function converged(server: ServerProcess, account: string, devices: readonly Device[]): Promise<number> {
  const [first, ...rest] = devices as [Device, ...Device[]];
  await waitFor(() => rest.every((d) => same(first, d)), 10_000, 'every device to hold the same state');
  const counts = deriveCounts(first.doc);
  assert.deepEqual(await badge(server, account), counts, 'GET /badge answers what the devices count');
  return counts.badge;
}

/** Records a device's badge after every change it receives. */
function badgeHistory(device: Device): number[] {
  const history: number[] = [];
  device.doc.on('afterTransaction', () => history.push(deriveCounts(device.doc).badge));
  return history;
}

const isNonIncreasing = (values: readonly number[]) =>
  values.every((v, i) => i === 0 || v <= (values[i - 1] as number));

/** No device was refused: no 44xx close, and the server counted no refusal. */
async function assertNothingRefused(server: ServerProcess, devices: readonly Device[]): Promise<void> {
  for (const device of devices) {
    const refused = device.closes.filter((c) => c.code >= 4400 && c.code < 4500);
    assert.deepEqual(refused, [], 'no device was closed with 44xx');
  }
  assert.equal(await metric(server, 'badgesync_updates_refused_total'), 0, 'no update was refused');
}

describe('devices syncing through the server', () => {
  let server: ServerProcess;
  const devices: Device[] = [];
  const connect = async (account: string, device: string) => {
    const d = await connectDevice(server, account, device);
    devices.push(d);
    await synced(d);
    return d;
  };

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const d of devices) d.destroy();
    await stopAll();
  });

  test('[SYNC-1][COUNT-8] three devices reading different threads converge on one badge', async () => {
    await api(server, 'POST', '/v1/accounts/three/items', { thread: 'mail', count: 6 });
    await api(server, 'POST', '/v1/accounts/three/items', { thread: 'chat', count: 4 });
    const [phone, mac, ipad] = [
      await connect('three', 'phone'),
      await connect('three', 'mac'),
      await connect('three', 'ipad'),
    ] as [Device, Device, Device];
    assert.equal(await converged(server, 'three', [phone, mac, ipad]), 10);
    markRead(phone.doc, 'phone', 'mail', 2);
    markRead(mac.doc, 'mac', 'mail', 5);
    markRead(ipad.doc, 'ipad', 'chat', 4);
    markMuted(ipad.doc, 'ipad', 'mail', true);
    assert.equal(await converged(server, 'three', [phone, mac, ipad]), 0);
    markMuted(phone.doc, 'phone', 'mail', false);
    assert.equal(await converged(server, 'three', [phone, mac, ipad]), 1);
    assert.deepEqual((await badge(server, 'three')).threads, { chat: 0, mail: 1 });
    await assertNothingRefused(server, [phone, mac, ipad]);
  });

  test('[COUNT-9] a device offline for a while: its reads reach everyone, no count rises', async () => {
    await api(server, 'POST', '/v1/accounts/off/items', { thread: 'inbox', count: 10 });
    await api(server, 'POST', '/v1/accounts/off/items', { thread: 'news', count: 3 });
    const phone = await connect('off', 'phone');
    const mac = await connect('off', 'mac');
    markRead(phone.doc, 'phone', 'inbox', 3);
    assert.equal(await converged(server, 'off', [phone, mac]), 10);

    phone.provider.disconnect();
    // While the phone is away: the mac reads further, and new items arrive.
    markRead(mac.doc, 'mac', 'inbox', 9);
    await api(server, 'POST', '/v1/accounts/off/items', { thread: 'inbox', count: 2 });
    await waitFor(() => headOf(mac.doc, 'inbox') === 12, 5000, 'the mac to see the new items');
    // Offline, the phone reads inbox to 6 (older than the mac's 9) and all of news.
    markRead(phone.doc, 'phone', 'inbox', 6);
    markRead(phone.doc, 'phone', 'news', 3);
    assert.equal(deriveCounts(phone.doc).badge, 4, 'the phone counts its own offline reads');
    const macBefore = deriveCounts(mac.doc).badge;
    assert.equal(macBefore, 6, 'inbox 12 − 9, news 3');
    const macHistory = badgeHistory(mac);

    phone.provider.connect();
    assert.equal(await converged(server, 'off', [phone, mac]), 3, 'inbox 12 − 9, news read');
    assert.ok(isNonIncreasing([macBefore, ...macHistory]), `the mac’s badge never rose: ${macHistory}`);
    await assertNothingRefused(server, [phone, mac]);
  });

  test('[MARK-2][COUNT-9] a mark-as-unread made offline wins on reconnect', async () => {
    await api(server, 'POST', '/v1/accounts/unread/items', { thread: 'inbox', count: 5 });
    const phone = await connect('unread', 'phone');
    const mac = await connect('unread', 'mac');
    markRead(mac.doc, 'mac', 'inbox', 5);
    assert.equal(await converged(server, 'unread', [phone, mac]), 0);
    phone.provider.disconnect();
    markUnread(phone.doc, 'phone', 'inbox', 4);
    assert.equal(deriveCounts(phone.doc).badge, 2);
    phone.provider.connect();
    assert.equal(await converged(server, 'unread', [phone, mac]), 2, 'items 4 and 5 are unread everywhere');
    await assertNothingRefused(server, [phone, mac]);
  });

  test('[API-3] a read made through the API reaches the devices as @server, never lowering anything', async () => {
    await api(server, 'POST', '/v1/accounts/web/items', { thread: 'inbox', count: 8 });
    const phone = await connect('web', 'phone');
    markRead(phone.doc, 'phone', 'inbox', 5);
    assert.equal(await converged(server, 'web', [phone]), 3);
    const older = await api(server, 'POST', '/v1/accounts/web/read', { thread: 'inbox', seq: 3 });
    assert.deepEqual(older, { status: 200, body: { badge: 3 } }, 'an older read changes nothing');
    const newer = await api(server, 'POST', '/v1/accounts/web/read', { thread: 'inbox', seq: 7 });
    assert.deepEqual(newer, { status: 200, body: { badge: 1 } });
    await waitFor(() => deriveCounts(phone.doc).badge === 1, 5000, 'the phone to see the web read');
    assert.equal(markerOf(phone.doc, '@server', 'inbox'), packMarker(0, 7));
    const beyond = await api(server, 'POST', '/v1/accounts/web/read', { thread: 'inbox', seq: 100 });
    assert.deepEqual(beyond.body, { badge: 0 }, 'clamped to the head');
    await waitFor(() => markerOf(phone.doc, '@server', 'inbox') === packMarker(0, 8), 5000, 'clamped read');
    assert.equal(await converged(server, 'web', [phone]), 0);
    await assertNothingRefused(server, [phone]);
  });

  test('[SYNC-6] awareness is relayed between devices and a device that leaves is announced gone', async () => {
    const phone = await connect('aware', 'phone');
    const mac = await connect('aware', 'mac');
    phone.provider.awareness.setLocalStateField('user', { name: 'phone' });
    mac.provider.awareness.setLocalStateField('user', { name: 'mac' });
    const sees = (device: Device, other: Device) => device.provider.awareness.getStates().has(other.doc.clientID);
    await waitFor(() => sees(phone, mac) && sees(mac, phone), 5000, 'each device to see the other');
    // A device joining later gets the states already there.
    const ipad = await connect('aware', 'ipad');
    await waitFor(() => sees(ipad, phone) && sees(ipad, mac), 5000, 'the ipad to see both');
    phone.provider.disconnect();
    await waitFor(() => !sees(mac, phone) && !sees(ipad, phone), 5000, 'the phone to be gone for the others');
    // A device that drops without saying goodbye is announced gone by the server.
    const watch = await RawClient.synced(server, 'aware', 'watch');
    const state = new TextEncoder().encode(JSON.stringify({ user: { name: 'watch' } }));
    const update = concat(varUint(1), varUint(watch.doc.clientID), varUint(1), varBytes(state));
    watch.send(concat(varUint(MSG_AWARENESS), varBytes(update)));
    const seesWatch = () => mac.provider.awareness.getStates().has(watch.doc.clientID);
    await waitFor(seesWatch, 5000, 'the mac to see the watch');
    watch.close();
    await waitFor(() => !seesWatch(), 5000, 'the server to announce the watch gone');
    assert.deepEqual(mac.provider.awareness.getStates().get(mac.doc.clientID), { user: { name: 'mac' } });
    await assertNothingRefused(server, [phone, mac, ipad]);
  });

  test('[SYNC-10] devices reconnecting after a server restart sync without being refused', async () => {
    await api(server, 'POST', '/v1/accounts/restart/items', { thread: 'inbox', count: 8 });
    const phone = await connect('restart', 'phone');
    const mac = await connect('restart', 'mac');
    markRead(phone.doc, 'phone', 'inbox', 2);
    markRead(mac.doc, 'mac', 'inbox', 3);
    assert.equal(await converged(server, 'restart', [phone, mac]), 5);

    assert.equal(await server.stop(), 0);
    await waitFor(() => !phone.provider.wsconnected && !mac.provider.wsconnected, 5000, 'both devices to drop');
    // While the server is down, the phone reads further (its provider keeps retrying).
    markRead(phone.doc, 'phone', 'inbox', 6);
    server = await restartOnSamePort(server);
    await api(server, 'POST', '/v1/accounts/restart/items', { thread: 'inbox', count: 1 });
    await waitFor(() => phone.provider.synced && mac.provider.synced, 15_000, 'both providers to resync');
    assert.equal(await converged(server, 'restart', [phone, mac]), 3, 'head 9 − the phone’s offline read of 6');
    for (const device of [phone, mac]) {
      assert.ok(
        device.closes.some((c) => c.code === 1001),
        'the stop said 1001',
      );
    }
    await assertNothingRefused(server, [phone, mac]);
  });
});
