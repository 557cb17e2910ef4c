/**
 * SIGTERM hands a cluster node's pushes over (SPEC CLUSTER-46, CLUSTER-47): three node
 * processes on one fresh PostgreSQL database and Redis prefix, sending to the APNs stand-in.
 * Node A queues a phone's badge with a one-minute coalescing window; node C has a push in
 * flight that APNs answers slowly. Both get SIGTERM: C's send completes and is recorded, A's
 * waiting badge becomes due at once, and node B, the one left, sends it once.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsAnswers, ApnsTestServer } from '../helpers/apns-test-server.js';
import { type ClusterRig, clusterRig } from '../helpers/cluster.js';
import { sleep } from '../helpers/eventually.js';
import {
  apnsEnv,
  delivered,
  FAST_PUSH_ENV,
  poll,
  post,
  register,
  waitForBadge,
  waitForLog,
} from '../helpers/push-rig.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';

const run = promisify(execFile);

/**
 * Node A's coalescing window: a badge it queues waits a minute, three times the 20 s claim
 * lease (PUSH_CLAIM_LEASE_MS). Sent well within the lease after A's SIGTERM, it was handed over.
 */
const LONG_WINDOW_MS = 60_000;
/** The claim lease a node's claims would otherwise lapse after (CLUSTER-19). */
const LEASE_MS = 20_000;
/** APNs holds node C's push this long: C's SIGTERM arrives while it is in flight. */
const SLOW_ANSWER_MS = 4_000;
/** After the hand-over push, how long a second push (of either phone) is waited for. */
const SECOND_PUSH_WAIT_MS = 3_000;

describe('cluster mode: SIGTERM hands pending pushes over', () => {
  let rig: ClusterRig;
  let apns: ApnsTestServer;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;

  /** The badge of `token`'s outbox entry, read from the cluster's database (null: none). */
  const outboxBadge = async (token: string): Promise<number | null> => {
    const { stdout } = await run('psql', [
      rig.databaseUrl,
      '-tAc',
      `SELECT badge FROM outbox WHERE token = '${token}' AND NOT parked`,
    ]);
    return stdout.trim() === '' ? null : Number(stdout.trim());
  };

  beforeAll(async () => {
    rig = await clusterRig();
    apns = await ApnsTestServer.start();
    const env = { ...FAST_PUSH_ENV, ...apnsEnv(apns) };
    [a, b, c] = await Promise.all([
      rig.start('drain-a', { ...env, BADGESYNC_PUSH_DELAY_MS: String(LONG_WINDOW_MS) }),
      rig.start('drain-b', { ...env, BADGESYNC_PUSH_DELAY_MS: String(LONG_WINDOW_MS) }),
      rig.start('drain-c', env),
    ]);
    // Each node's restart sweep (PUSH-2) looks at every registration once it starts: one that
    // runs while the test registers its phone queues that phone too, and two nodes each queueing
    // one phone at once may each push it (CLUSTER-56). The test's pushes start after the sweeps.
    await Promise.all([a, b, c].map((node) => waitForLog(node, 'push restart sweep done')));
  });
  afterAll(async () => {
    await stopAll();
    await apns?.close();
    await rig?.drop();
  });

  test('[CLUSTER-46][CLUSTER-47][OPS-7] a badge waiting on node A is sent once by node B right after A’s SIGTERM; a send in flight on node C completes and is never sent again', async () => {
    // Node C: a push in flight when its SIGTERM comes (APNs answers it late).
    const slowToken = 'ab'.repeat(32);
    apns.enqueue(slowToken, ApnsAnswers.slow(SLOW_ANSWER_MS));
    assert.equal(await post(c, 'drain-slow', 'inbox', 3), 3);
    await register(c, 'drain-slow', 'phone', { apnsToken: slowToken });
    await apns.waitFor(
      () => apns.requestsFor(slowToken).length === 1,
      15_000,
      () => 'node C’s push reached APNs',
    );
    assert.equal(apns.requestsFor(slowToken)[0]?.answer ?? null, null, 'still unanswered');

    // Node A: an offline phone's badge, queued with a window of a minute.
    const token = 'cd'.repeat(32);
    assert.equal(await post(a, 'drain-wait', 'inbox', 2), 2);
    await register(a, 'drain-wait', 'phone', { apnsToken: token });
    await poll(async () => (await outboxBadge(token)) === 2, 'node A queued the badge');
    assert.deepEqual(apns.requestsFor(token), [], 'nothing sent: the window has a minute to run');

    const terminated = Date.now();
    const [exitA, exitC] = [a.stop(), c.stop()];
    // Well before the lease (let alone the window) would have let anyone else take it.
    await waitForBadge(apns, token, 2, LEASE_MS - 5_000);
    const sentAfterMs = Date.now() - terminated;
    assert.equal(await exitA, 0);
    assert.equal(await exitC, 0);
    const handedOver = a.logs.find((line) => line.msg === 'push entries handed over to the other nodes');
    assert.ok(handedOver !== undefined && (handedOver.entries as number) >= 1, 'node A handed its entry over');

    // C's send completed before C closed: recorded as delivered, its entry gone, never sent again.
    assert.deepEqual(delivered(apns, slowToken), [3]);
    await sleep(SECOND_PUSH_WAIT_MS);
    assert.equal(
      apns.requestsFor(token).length,
      1,
      `exactly one push of the handed-over badge (sent ${sentAfterMs} ms after SIGTERM)`,
    );
    assert.equal(apns.requestsFor(slowToken).length, 1, 'the push in flight on C was not sent again by B');
    assert.equal(await outboxBadge(token), null, 'B settled the entry');
    assert.equal(await outboxBadge(slowToken), null, 'C settled its entry before it exited');
    assert.ok(b.child.exitCode === null, 'node B still serves');
  });
});
