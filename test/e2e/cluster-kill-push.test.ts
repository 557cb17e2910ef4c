/**
 * A node killed with `kill -9` leaves its pushes to the others (SPEC CLUSTER-53): three node
 * processes on one fresh PostgreSQL database and Redis prefix, sending to the APNs stand-in.
 * One node has one phone's push in flight (APNs holds the answer: the node holds the entry's
 * claim) and another phone's badge queued, not yet due. That node is killed; nothing else happens
 * in the cluster — no write, no registration, no hand-over — and another node sends each badge
 * once: the queued one once it is due, the claimed one once the dead node's claim has lapsed.
 * Which node claims the first push is not fixed: every node's outbox look may take a due entry,
 * so the test kills whichever node holds the claim.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsAnswers, ApnsTestServer } from '../helpers/apns-test-server.js';
import { type ClusterRig, clusterRig } from '../helpers/cluster.js';
import { sleep } from '../helpers/eventually.js';
import { apnsEnv, badgeOf, FAST_PUSH_ENV, poll, post, register, waitForLog } from '../helpers/push-rig.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';

const run = promisify(execFile);

/** Every node's coalescing window: A is killed well before the queued badge is due. */
const WINDOW_MS = 3_000;
/** The claim lease (PUSH_CLAIM_LEASE_MS) and the outbox look (OUTBOX_POLL_MS) of a node. */
const LEASE_MS = 20_000;
const POLL_MS = 5_000;
/** APNs holds A's push far past the test: A dies with it in flight. */
const HELD_ANSWER_MS = 120_000;
/** Slack for a loaded machine on top of the worst case the rule allows. */
const SLACK_MS = 10_000;
/** After the pushes, how long a second one (of either phone) is waited for. */
const SECOND_PUSH_WAIT_MS = 3_000;

describe('cluster mode: kill -9 leaves a node’s pushes to the others', () => {
  let rig: ClusterRig;
  let apns: ApnsTestServer;
  let a: ServerProcess;
  let b: ServerProcess;
  let c: ServerProcess;

  /** The badge and claimant of `token`'s outbox entry, read from the cluster's database. */
  const outboxRow = async (token: string): Promise<string> => {
    const { stdout } = await run('psql', [
      rig.databaseUrl,
      '-tAc',
      `SELECT badge || '/' || coalesce(claimed_by, '-') FROM outbox WHERE token = '${token}' AND NOT parked`,
    ]);
    return stdout.trim();
  };
  /** When the claim on `token`'s outbox entry ends (ms, the claiming node's clock: this machine's). */
  const claimUntil = async (token: string): Promise<number> => {
    const { stdout } = await run('psql', [
      rig.databaseUrl,
      '-tAc',
      `SELECT claim_until FROM outbox WHERE token = '${token}' AND NOT parked`,
    ]);
    return Number(stdout.trim());
  };

  beforeAll(async () => {
    rig = await clusterRig();
    apns = await ApnsTestServer.start();
    const env = { ...FAST_PUSH_ENV, ...apnsEnv(apns), BADGESYNC_PUSH_DELAY_MS: String(WINDOW_MS) };
    [a, b, c] = await Promise.all([rig.start('kill-a', env), rig.start('kill-b', env), rig.start('kill-c', env)]);
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

  test('[CLUSTER-53][CLUSTER-19] after kill -9 of the node sending a push, with no other activity, another node sends its queued badge and the one it was sending, each once', async () => {
    const nodes = { 'kill-a': a, 'kill-b': b, 'kill-c': c };
    // A phone whose push is in flight when its node dies: that node holds the entry's claim.
    const claimed = 'ef'.repeat(32);
    apns.enqueue(claimed, ApnsAnswers.slow(HELD_ANSWER_MS));
    assert.equal(await post(a, 'kill-claimed', 'inbox', 3), 3);
    await register(a, 'kill-claimed', 'phone', { apnsToken: claimed });
    await apns.waitFor(
      () => apns.requestsFor(claimed).length === 1,
      WINDOW_MS + SLACK_MS,
      () => 'the first push reached APNs',
    );
    let claimant = '';
    await poll(async () => {
      const [badge, by] = (await outboxRow(claimed)).split('/');
      claimant = by ?? '';
      return badge === '3' && claimant in nodes;
    }, 'a node holds the claim');
    const victim = nodes[claimant as keyof typeof nodes];
    const survivors = Object.values(nodes).filter((node) => node !== victim);
    const claimedAt = Date.now();
    // When the claim lapses, as the claim wrote it: what the second send is checked against, not
    // the time the test saw the claim (seen late on a loaded machine, a lapse looked early).
    const lapsesAt = await claimUntil(claimed);
    assert.ok(lapsesAt > claimedAt, `${claimant}’s claim was live when seen (until ${lapsesAt})`);
    // The claim is a lease long, taken before the push went (a loaded machine may put seconds between).
    const leaseLeft = lapsesAt - (apns.requestsFor(claimed)[0]?.receivedAt ?? 0);
    assert.ok(leaseLeft <= LEASE_MS && leaseLeft > LEASE_MS - SLACK_MS / 2, `a lease from the claim (${leaseLeft} ms)`);

    // A phone whose badge the same node queued, due in a window.
    const queued = '0f'.repeat(32);
    assert.equal(await post(victim, 'kill-queued', 'inbox', 2), 2);
    await register(victim, 'kill-queued', 'phone', { apnsToken: queued });
    await poll(async () => (await outboxRow(queued)) === '2/-', `${claimant} queued the badge`);
    const queuedAt = Date.now();

    await victim.kill();
    assert.deepEqual(apns.requestsFor(queued), [], `${claimant} died before the queued badge was due`);

    // Nothing else happens. Due one window after it was queued, taken at the next outbox look.
    await apns.waitFor(
      () => apns.requestsFor(queued).length >= 1,
      WINDOW_MS + POLL_MS + SLACK_MS,
      () => 'the queued badge was sent by another node',
    );
    const queuedSentMs = Date.now() - queuedAt;
    // A's claim lapses a lease after A took it; the next outbox look takes it.
    await apns.waitFor(
      () => apns.requestsFor(claimed).length >= 2,
      LEASE_MS + POLL_MS + SLACK_MS,
      () => 'the claimed badge was sent again by another node',
    );
    const claimedSentMs = Date.now() - claimedAt;
    await sleep(SECOND_PUSH_WAIT_MS);

    assert.deepEqual(
      apns.requestsFor(queued).map(badgeOf),
      [2],
      `the queued badge, once (${queuedSentMs} ms after it was queued)`,
    );
    assert.deepEqual(
      apns.requestsFor(claimed).map(badgeOf),
      [3, 3],
      `${claimant}’s unanswered push, then once more by another node (${claimedSentMs} ms after the claim)`,
    );
    const resentAt = apns.requestsFor(claimed)[1]?.receivedAt ?? 0;
    assert.ok(resentAt >= lapsesAt, `not before the dead node’s claim lapsed (${lapsesAt - resentAt} ms early)`);
    assert.equal(await outboxRow(queued), '', 'settled');
    assert.equal(await outboxRow(claimed), '', 'settled');
    assert.ok(
      survivors.every((node) => node.child.exitCode === null),
      'the other nodes still serve',
    );
  });
});
