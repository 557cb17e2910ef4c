/**
 * SIGTERM hands a cluster node's pushes over (SPEC CLUSTER-46, CLUSTER-47): three node
 * processes on one fresh PostgreSQL database and Redis prefix, sending to the APNs stand-in.
 * One node has a push in flight that APNs answers slowly; another queues a phone's badge with a
 * one-minute coalescing window. Both get SIGTERM: the send in flight completes and is recorded,
 * the waiting badge becomes due at once, and the node left sends it once.
 * Which node sends the slow push is not fixed: node C queues it (a short window), but every
 * node's outbox look may take a due entry, so the test finds the claimant and gives the
 * one-minute badge to a node with that window (A or B) that is not the claimant.
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
 * Nodes A and B's coalescing window: a badge one queues waits a minute, three times the 20 s
 * claim lease (PUSH_CLAIM_LEASE_MS). Sent well within the lease after its SIGTERM, it was handed over.
 */
const LONG_WINDOW_MS = 60_000;
/** The claim lease a node's claims would otherwise lapse after (CLUSTER-19). */
const LEASE_MS = 20_000;
/**
 * APNs holds the slow push this long: the SIGTERM of its node arrives while it is in flight
 * (checked), with seconds to spare for the steps before it on a loaded machine, and under the
 * APNs request timeout (10 s, DEFAULT_APNS_REQUEST_TIMEOUT_MS).
 */
const SLOW_ANSWER_MS = 6_000;
/** After the hand-over push, how long a second push (of either phone) is waited for. */
const SECOND_PUSH_WAIT_MS = 3_000;

describe('cluster mode: SIGTERM hands pending pushes over', () => {
  let rig: ClusterRig;
  let apns: ApnsTestServer;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;

  /** `token`'s outbox entry as `badge/claimant` (`-`: unclaimed), read from the cluster's database ('': none). */
  const outboxRow = async (token: string): Promise<string> => {
    const { stdout } = await run('psql', [
      rig.databaseUrl,
      '-tAc',
      `SELECT badge || '/' || coalesce(claimed_by, '-') FROM outbox WHERE token = '${token}' AND NOT parked`,
    ]);
    return stdout.trim();
  };
  /** The badge of `token`'s outbox entry (null: none). */
  const outboxBadge = async (token: string): Promise<number | null> => {
    const row = await outboxRow(token);
    return row === '' ? null : Number(row.split('/')[0]);
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

  test('[CLUSTER-46][CLUSTER-47][OPS-7] a badge waiting on one node is sent once by another right after its SIGTERM; a send in flight on a third node completes and is never sent again', async () => {
    const nodes = { 'drain-a': a, 'drain-b': b, 'drain-c': c };
    // A push in flight when its node's SIGTERM comes (APNs answers it late). C queues it; the
    // node that claimed it is the one sending it.
    const slowToken = 'ab'.repeat(32);
    apns.enqueue(slowToken, ApnsAnswers.slow(SLOW_ANSWER_MS));
    assert.equal(await post(c, 'drain-slow', 'inbox', 3), 3);
    await register(c, 'drain-slow', 'phone', { apnsToken: slowToken });
    await apns.waitFor(
      () => apns.requestsFor(slowToken).length === 1,
      15_000,
      () => 'the slow push reached APNs',
    );
    let sender = '';
    await poll(async () => {
      const [badge, by] = (await outboxRow(slowToken)).split('/');
      sender = by ?? '';
      return badge === '3' && sender in nodes;
    }, 'a node holds the slow push’s claim');
    // The badge waits on a node with the one-minute window that is not sending; the third serves on.
    const queuer = sender === 'drain-a' ? b : a;
    const survivor = Object.values(nodes).find(
      (node) => node !== nodes[sender as keyof typeof nodes] && node !== queuer,
    );
    const sending = nodes[sender as keyof typeof nodes];
    assert.ok(survivor !== undefined);

    // An offline phone's badge, queued with a window of a minute.
    const token = 'cd'.repeat(32);
    assert.equal(await post(queuer, 'drain-wait', 'inbox', 2), 2);
    await register(queuer, 'drain-wait', 'phone', { apnsToken: token });
    await poll(async () => (await outboxBadge(token)) === 2, 'the badge was queued');
    assert.deepEqual(apns.requestsFor(token), [], 'nothing sent: the window has a minute to run');
    assert.equal(apns.requestsFor(slowToken)[0]?.answer ?? null, null, `${sender}’s push still in flight at SIGTERM`);

    const terminated = Date.now();
    const [exitQueuer, exitSending] = [queuer.stop(), sending.stop()];
    // Well before the lease (let alone the window) would have let anyone else take it.
    await waitForBadge(apns, token, 2, LEASE_MS - 5_000);
    const sentAfterMs = Date.now() - terminated;
    assert.equal(await exitQueuer, 0);
    assert.equal(await exitSending, 0);
    const handedOver = queuer.logs.find((line) => line.msg === 'push entries handed over to the other nodes');
    assert.ok(
      handedOver !== undefined && (handedOver.entries as number) >= 1,
      'the queueing node handed its entry over',
    );

    // The send in flight completed before its node closed: recorded as delivered, its entry gone, never sent again.
    assert.deepEqual(delivered(apns, slowToken), [3]);
    await sleep(SECOND_PUSH_WAIT_MS);
    assert.equal(
      apns.requestsFor(token).length,
      1,
      `exactly one push of the handed-over badge (sent ${sentAfterMs} ms after SIGTERM)`,
    );
    assert.equal(apns.requestsFor(slowToken).length, 1, `the push in flight on ${sender} was not sent again`);
    assert.equal(await outboxBadge(token), null, 'the node left settled the entry');
    assert.equal(await outboxBadge(slowToken), null, `${sender} settled its entry before it exited`);
    assert.ok(survivor.child.exitCode === null, 'the node left still serves');
  });
});
