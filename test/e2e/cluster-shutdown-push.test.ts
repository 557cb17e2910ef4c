/**
 * A change committed in a node's last flush reaches push (SPEC OPS-8): two node processes on one
 * fresh PostgreSQL database and Redis prefix, sending to the APNs stand-in. Node A holds every
 * group commit batch (the OPS-5 test hook), so the SIGTERM lands while a device's write — one
 * that changes an offline phone's badge — waits to be written. The shutdown writes it, push
 * (still open) queues the phone, A hands the entry over (CLUSTER-46) and node B sends the new
 * badge. Were push closed before that flush, nothing would queue the phone: no node would push
 * it until the account's next change.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsTestServer } from '../helpers/apns-test-server.js';
import { type ClusterRig, clusterRig } from '../helpers/cluster.js';
import { markRead } from '../helpers/marks.js';
import { connectDevice, type Device, synced } from '../helpers/providers.js';
import {
  apnsEnv,
  delivered,
  FAST_PUSH_ENV,
  post,
  register,
  waitForBadge,
  waitForLog,
  waitForMetric,
} from '../helpers/push-rig.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';

/** How long node A holds each group commit batch: the SIGTERM comes well inside it. */
const HOLD_MS = 1_500;

describe('cluster mode: a change in the last flush before SIGTERM is pushed', () => {
  let rig: ClusterRig;
  let apns: ApnsTestServer;
  let a: ServerProcess;
  let b: ServerProcess;
  const devices: Device[] = [];

  beforeAll(async () => {
    rig = await clusterRig();
    apns = await ApnsTestServer.start();
    const env = { ...FAST_PUSH_ENV, ...apnsEnv(apns) };
    [a, b] = await Promise.all([
      rig.start('flush-a', { ...env, NODE_ENV: 'test', BADGESYNC_TEST_COMMIT_DELAY_MS: String(HOLD_MS) }),
      rig.start('flush-b', env),
    ]);
    // Each node's restart sweep (PUSH-2) looks at every registration once it starts: one that
    // runs while the test registers its phone queues that phone too, and two nodes each queueing
    // one phone at once may each push it (CLUSTER-56). The test's pushes start after the sweeps.
    await Promise.all([a, b].map((node) => waitForLog(node, 'push restart sweep done')));
  });
  afterAll(async () => {
    for (const device of devices) device.destroy();
    await stopAll();
    await apns?.close();
    await rig?.drop();
  });

  test('[OPS-8][OPS-3][CLUSTER-46] SIGTERM right after a device write that changes an offline phone’s badge: another node pushes the new badge', async () => {
    const account = 'flush';
    assert.equal(await post(a, account, 'inbox', 3), 3);
    const token = await register(a, account, 'phone', { apnsToken: '1e'.repeat(32) });
    await waitForBadge(apns, token, 3);

    // The mac (online, on node A) reads two items: the phone's badge becomes 1.
    const mac = await connectDevice(a, account, 'mac');
    devices.push(mac);
    await synced(mac);
    const applied = await waitForMetric(a, 'badgesync_updates_applied_total', {}, (n) => n >= 0);
    markRead(mac.doc, 'mac', 'inbox', 2);
    // A applied the write; its batch is held (HOLD_MS) when the SIGTERM lands.
    await waitForMetric(a, 'badgesync_updates_applied_total', {}, (n) => n > applied);
    const exit = a.stop();

    await waitForBadge(apns, token, 1);
    assert.equal(await exit, 0);
    assert.deepEqual(delivered(apns, token), [3, 1]);
    assert.ok(b.child.exitCode === null, 'node B still serves');
  });
});
