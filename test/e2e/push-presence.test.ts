/**
 * Online, offline and in between (SPEC PUSH-3, PUSH-4, SYNC-8; invariants 5 and 6): a device
 * with a live sync connection is never pushed; once its connection ends — a clean close, or a
 * dead link the heartbeats cut — and the grace period passes, it is pushed its badge.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { Tunnel } from '../demo/tunnel.js';
import { connectDevice, type Device, synced } from '../helpers/providers.js';
import {
  delivered,
  type PushRig,
  post,
  register,
  startPushRig,
  waitForBadge,
  waitForMetric,
} from '../helpers/push-rig.js';
import { stopAll } from '../helpers/server-process.js';

describe('push: presence, with a 200 ms grace period and 1 s heartbeats', () => {
  let rig: PushRig;
  const devices: Device[] = [];
  const tunnels: Tunnel[] = [];
  beforeAll(async () => {
    rig = await startPushRig();
  });
  afterAll(async () => {
    for (const device of devices) device.destroy();
    await Promise.all(tunnels.map((tunnel) => tunnel.close()));
    await rig?.close();
    await stopAll();
  });

  async function online(account: string, device: string, serverUrl = rig.server.syncUrl): Promise<Device> {
    const connected = await connectDevice(
      { syncUrl: serverUrl, deviceSecret: rig.server.deviceSecret },
      account,
      device,
    );
    devices.push(connected);
    await synced(connected);
    return connected;
  }

  test('[PUSH-4] a device that closes its connection is pushed its badge after the grace period', async () => {
    const { server, apns } = rig;
    const phone = await online('ann', 'ann-phone');
    const token = await register(server, 'ann', 'ann-phone');
    assert.equal(await post(server, 'ann', 'inbox', 2), 2);
    phone.provider.disconnect();
    // A change the phone misses: it happens while its connection is closing or closed.
    assert.equal(await post(server, 'ann', 'inbox', 1), 3);
    await waitForBadge(apns, token, 3);
    assert.ok(
      delivered(apns, token).every((badge) => badge === 2 || badge === 3),
      `nothing was pushed while it was online: ${delivered(apns, token).join(', ')}`,
    );
  });

  test('[PUSH-4][SYNC-8] a silent dead link is cut by the heartbeats, then the device is pushed', async () => {
    const { server, apns } = rig;
    const link = await Tunnel.open(server.port);
    tunnels.push(link);
    const cut = await waitForMetric(server, 'badgesync_heartbeat_terminations_total', {}, () => true);
    await online('bea', 'bea-phone', `${link.url}/v1/sync`);
    const token = await register(server, 'bea', 'bea-phone');
    const witness = await register(server, 'bea', 'bea-ipad');
    await post(server, 'bea', 'inbox', 1);
    await waitForBadge(apns, witness, 1);
    assert.deepEqual(apns.requestsFor(token), [], 'online: not pushed');
    // The lift: the connection stays open, nothing gets through, no FIN either way.
    link.freeze();
    await post(server, 'bea', 'inbox', 4);
    await waitForBadge(apns, token, 5);
    assert.deepEqual(delivered(apns, token), [5]);
    assert.ok((await waitForMetric(server, 'badgesync_heartbeat_terminations_total', {}, (n) => n > cut)) > cut);
  });

  test('[PUSH-3] a device online for one account is still pushed for a change of another it is offline for', async () => {
    const { server, apns } = rig;
    await online('cai', 'cai-phone');
    const token = await register(server, 'cai', 'cai-phone');
    await register(server, 'cai-work', 'cai-phone');
    await waitForBadge(apns, token, 0);
    const witness = await register(server, 'cai', 'cai-ipad');
    await post(server, 'cai', 'inbox', 2);
    await waitForBadge(apns, witness, 2);
    assert.deepEqual(delivered(apns, token), [0], 'a change of cai, which the phone is online for, queued nothing');
    await post(server, 'cai-work', 'mail', 3);
    await waitForBadge(apns, token, 5);
    assert.deepEqual(delivered(apns, token), [0, 5]);
  });
});

describe('push: presence, with a 3 s grace period', () => {
  let rig: PushRig;
  const devices: Device[] = [];
  beforeAll(async () => {
    rig = await startPushRig({ BADGESYNC_OFFLINE_GRACE_MS: '3000' });
  });
  afterAll(async () => {
    for (const device of devices) device.destroy();
    await rig?.close();
    await stopAll();
  });

  test('[PUSH-3][PUSH-4] a device back within the grace period is not pushed', async () => {
    const { server, apns } = rig;
    const phone = await connectDevice(server, 'dan', 'dan-phone');
    const ipad = await connectDevice(server, 'dan', 'dan-ipad');
    devices.push(phone, ipad);
    await Promise.all([synced(phone), synced(ipad)]);
    const phoneToken = await register(server, 'dan', 'dan-phone');
    const ipadToken = await register(server, 'dan', 'dan-ipad');
    await post(server, 'dan', 'inbox', 1);
    // Both drop off; the iPad stays away, the phone (a network switch) comes back at once.
    phone.provider.disconnect();
    ipad.provider.disconnect();
    await post(server, 'dan', 'inbox', 1);
    phone.provider.connect();
    await synced(phone);
    // The iPad's grace period started after the phone's: once it is pushed, the phone's is over too.
    await waitForBadge(apns, ipadToken, 2);
    assert.deepEqual(delivered(apns, ipadToken), [2]);
    assert.deepEqual(apns.requestsFor(phoneToken), [], 'the phone came back in time: no push');
  });
});
