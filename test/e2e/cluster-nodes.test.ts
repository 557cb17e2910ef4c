/**
 * Cluster mode (docs/CLUSTER.md): three server processes on loopback sharing one fresh
 * PostgreSQL database and one Redis (a random key prefix), with stock y-websocket providers
 * of one account spread over them.
 */
import assert from 'node:assert/strict';
import { deriveCounts } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { ApnsTestServer } from '../helpers/apns-test-server.js';
import { type ClusterRig, clusterRig, killRedisClients } from '../helpers/cluster.js';
import { docState } from '../helpers/doc-state.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { badgeBecomes, sleep } from '../helpers/eventually.js';
import { ingestStream } from '../helpers/load.js';
import { markRead } from '../helpers/marks.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { apnsEnv, delivered, FAST_PUSH_ENV, post, register, waitForBadge } from '../helpers/push-rig.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';

const THREADS = ['a', 'b', 'c'];
/** How long devices may take to converge: a lost message waits for a reconcile (3 s) at most. */
const CONVERGE_MS = 20_000;
/**
 * Node D holds each group commit this long before it writes (SPEC OPS-5): a batch it hands over
 * reaches the log after another node's commit made meanwhile, every time (CLUSTER-41).
 */
const HOLD_MS = 1_000;
/** After SIGTERM, node A keeps serving this long with /readyz at 503 (BADGESYNC_DRAIN_MS). */
const DRAIN_MS = 2_000;

/** A device that reads every thread up to the head it sees, every 20 ms while synced. */
function keepReading(device: Device, name: string): () => void {
  const timer = setInterval(() => {
    if (!device.provider.synced) return;
    for (const thread of THREADS) markRead(device.doc, name, thread, headOf(device.doc, thread));
  }, 20);
  return () => clearInterval(timer);
}

/** Per thread, the highest marker of `writer` that `reader` has received. */
function watchMarkers(reader: Device, writer: string): Map<string, number> {
  const seen = new Map<string, number>();
  reader.doc.on('update', () => {
    for (const thread of THREADS)
      seen.set(thread, Math.max(seen.get(thread) ?? 0, markerOf(reader.doc, writer, thread)));
  });
  return seen;
}

/** Waits until every device holds the same document; fails with the first difference. */
async function converged(devices: readonly Device[], what: string): Promise<void> {
  const same = () => {
    const first = JSON.stringify(docState((devices[0] as Device).doc));
    return devices.every((d) => JSON.stringify(docState(d.doc)) === first);
  };
  await waitFor(same, CONVERGE_MS, what).catch((err: Error) => {
    const states = devices.map((d) => JSON.stringify(docState(d.doc)));
    throw new Error(`${err.message}\n${states.join('\n')}`);
  });
}

describe('cluster mode: three nodes, and a fourth whose commits are held', () => {
  let rig: ClusterRig;
  let apns: ApnsTestServer;
  let nodes: ServerProcess[] = [];
  /** A fourth node whose commits are held (HOLD_MS). */
  let slow: ServerProcess;
  const devices: Device[] = [];
  const connect = async (node: ServerProcess, account: string, device: string) => {
    const d = await connectDevice(node, account, device);
    devices.push(d);
    await synced(d);
    return d;
  };

  beforeAll(async () => {
    rig = await clusterRig();
    apns = await ApnsTestServer.start();
    const env = { ...FAST_PUSH_ENV, ...apnsEnv(apns) };
    // All three at once on the fresh database: one migrates it, the others wait on the
    // migration lock and find it done (STORE-25).
    [slow, ...nodes] = await Promise.all([
      rig.start('node-d', { ...env, NODE_ENV: 'test', BADGESYNC_TEST_COMMIT_DELAY_MS: String(HOLD_MS) }),
      rig.start('node-a', { ...env, BADGESYNC_DRAIN_MS: String(DRAIN_MS) }),
      rig.start('node-b', env),
      rig.start('node-c', env),
    ]);
  });
  afterAll(async () => {
    for (const d of devices) d.destroy();
    await stopAll();
    await apns?.close();
    await rig?.drop();
  });

  test('[CLUSTER-13][CLUSTER-14][CLUSTER-41] providers of one account on three nodes sync both ways; an ingest on any node reaches every device', async () => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const phone = await connect(a, 'shared', 'phone');
    const mac = await connect(b, 'shared', 'mac');
    const ipad = await connect(c, 'shared', 'ipad');
    const all = [phone, mac, ipad];

    let head = 0;
    for (const [node, count] of [
      [a, 2],
      [b, 3],
      [c, 1],
    ] as const) {
      const answer = await api<{ head: number }>(node, 'POST', '/v1/accounts/shared/items', { thread: 'inbox', count });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      head += count;
      assert.equal(answer.body.head, head, 'each node continues the head the others wrote');
      await waitFor(() => all.every((d) => headOf(d.doc, 'inbox') === head), CONVERGE_MS, `head ${head} everywhere`);
    }

    markRead(phone.doc, 'phone', 'inbox', 4);
    markRead(ipad.doc, 'ipad', 'inbox', 6);
    await waitFor(
      () => all.every((d) => markerOf(d.doc, 'phone', 'inbox') === 4 && markerOf(d.doc, 'ipad', 'inbox') === 6),
      CONVERGE_MS,
      'markers written on node A and node C on every device',
    );
    await converged(all, 'the three replicas to match');
    // [CLUSTER-41] The markers were committed on two nodes at once: each node's stored counts
    // come right once it has caught up with the other's commit.
    for (const node of nodes) await badgeBecomes(node, 'shared', 0, CONVERGE_MS);
  });

  test("[CLUSTER-41] counts a node derived without another node's concurrent commit are left out, then written from the caught-up replica; the stored badge is the log's", async () => {
    const a = nodes[0] as ServerProcess;
    assert.equal(await post(a, 'counted', 'inbox', 6), 6);
    const phone = await connect(slow, 'counted', 'phone');
    const ipad = await connect(a, 'counted', 'ipad');
    await waitFor(() => headOf(phone.doc, 'inbox') === 6 && headOf(ipad.doc, 'inbox') === 6, CONVERGE_MS, 'head 6');
    // Two holds pass: the phone's connection (its client binding) is committed on node D, so the
    // read below is handed over at once rather than gathered behind a held batch.
    await sleep(HOLD_MS * 2);
    // Node D derives unread 2 from the phone's read and holds that commit; node A commits the
    // iPad's read (unread 0) meanwhile, so D's counts reach the log after A's.
    markRead(phone.doc, 'phone', 'inbox', 4);
    markRead(ipad.doc, 'ipad', 'inbox', 6);
    await converged([phone, ipad], 'both reads on both devices');
    await badgeBecomes(a, 'counted', 0, CONVERGE_MS);
  });

  test('[CLUSTER-17][CLUSTER-19] a device connected to one node is not pushed for a change on another; once it leaves, it is pushed, once', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const phone = await connect(b, 'pushed', 'phone');
    const phoneToken = await register(a, 'pushed', 'phone');
    const ipadToken = await register(a, 'pushed', 'ipad');
    assert.equal(await post(a, 'pushed', 'inbox', 2), 2);
    await waitForBadge(apns, ipadToken, 2);
    assert.deepEqual(apns.requestsFor(phoneToken), [], 'online on node B: node A pushed it nothing');
    phone.provider.disconnect();
    await waitForBadge(apns, phoneToken, 2);
    assert.deepEqual(delivered(apns, phoneToken), [2], 'pushed once, by one node');
    assert.deepEqual(delivered(apns, ipadToken), [2], 'pushed once, by one node');
  });

  test('[CLUSTER-13][CLUSTER-18] kill -9 of a node under load loses no acknowledged or relayed write; its devices converge on another node', async () => {
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const onA = await connect(a, 'load', 'on-a');
    const onB = await connect(b, 'load', 'on-b');
    const onC = await connect(c, 'load', 'on-c');
    const seenOnA = watchMarkers(onA, 'on-c');
    const seenOnB = watchMarkers(onB, 'on-c');
    const stops = [keepReading(onA, 'on-a'), keepReading(onB, 'on-b'), keepReading(onC, 'on-c')];
    let killed = false;
    const stream = ingestStream(c, 'load', THREADS, {
      workers: 4,
      readers: 0,
      seed: 20261202,
      onAck: (tally) => {
        if (killed || tally.requests < 60 || seenOnA.size < THREADS.length || seenOnB.size < THREADS.length) return;
        killed = true;
        c.child.kill('SIGKILL');
      },
    });
    await waitFor(() => c.child.signalCode !== null, 30_000, '60 acknowledged ingests on node C and its kill');
    await c.kill();
    await stream.stop();
    for (const stop of stops) stop();
    assert.deepEqual(stream.tally.failures, [], 'every ingest answered before the kill succeeded');

    // What clients saw acknowledged (ingests on C) or relayed (C's device's markers) is in
    // the other nodes' documents: fresh devices on A and B load it.
    const readers = [await connect(a, 'load', 'reader-a'), await connect(b, 'load', 'reader-b')];
    for (const reader of readers) {
      for (const thread of THREADS) {
        const acked = stream.tally.answeredHead.get(thread) ?? 0;
        await waitFor(() => headOf(reader.doc, thread) >= acked, CONVERGE_MS, `head of ${thread} ≥ ${acked}`);
        const seen = Math.max(seenOnA.get(thread) ?? 0, seenOnB.get(thread) ?? 0);
        await waitFor(() => markerOf(reader.doc, 'on-c', thread) >= seen, CONVERGE_MS, `on-c's ${thread} ≥ ${seen}`);
      }
    }

    // C's device comes back through node B, with its replica (and what it wrote offline).
    onC.provider.destroy();
    const back = await connectDevice(b, 'load', 'on-c', { doc: onC.doc });
    devices.push(back);
    await synced(back);
    await converged([onA, onB, back, ...readers], 'every device of the account to converge after the kill');
    for (const d of [onA, onB, back]) {
      assert.deepEqual(
        d.closes.filter((close) => close.code >= 4000),
        [],
        'no device was refused',
      );
    }
  });

  test('[CLUSTER-15][CLUSTER-16][CLUSTER-41] the subscriber connection of a node killed mid-load: every device still converges', async () => {
    const [a, b] = nodes as [ServerProcess, ServerProcess];
    const onA = await connect(a, 'repair', 'on-a');
    const onB = await connect(b, 'repair', 'on-b');
    const onA2 = await connect(a, 'repair', 'on-a2');
    const stops = [keepReading(onA, 'on-a'), keepReading(onB, 'on-b'), keepReading(onA2, 'on-a2')];
    const stream = ingestStream(b, 'repair', THREADS, { workers: 3, readers: 0, seed: 7, onAck: () => {} });
    await waitFor(() => stream.tally.requests >= 20, 20_000, '20 ingests on node B');
    const killed = await killRedisClients(`${rig.prefix}sub:node-a`);
    assert.ok(killed > 0, "node A's Redis connections were found by name and killed");
    await waitFor(() => stream.tally.requests >= 60, 20_000, '40 more ingests while node A resubscribes');
    await stream.stop();
    for (const stop of stops) stop();
    const reader = await connect(b, 'repair', 'reader');
    await converged([onA, onB, onA2, reader], 'every device to converge after the bus was cut');
    for (const thread of THREADS) {
      assert.ok(headOf(onA.doc, thread) >= (stream.tally.answeredHead.get(thread) ?? 0), `A's device has ${thread}`);
    }
    // [CLUSTER-41] Two nodes committed to the account all along (ingests on B, reads on A and B):
    // the stored counts come to match the converged document.
    const truth = deriveCounts(reader.doc).badge;
    for (const node of [a, b]) await badgeBecomes(node, 'repair', truth, CONVERGE_MS);
    await waitFor(
      () => a.logs.some((line) => line.msg === 'bus subscription back: repairing every loaded account'),
      CONVERGE_MS,
      'node A to log its resubscription',
    );
  });

  test('[OPS-6][OPS-7][OPS-3] /readyz answers 200 on a live node and 503 (draining) from the SIGTERM on; the node exits 0', async () => {
    const a = nodes[0] as ServerProcess;
    const ready = await api<{ ready: boolean }>(a, 'GET', '/readyz', undefined, null);
    assert.deepEqual(ready, { status: 200, body: { ready: true } });
    const exit = a.stop();
    // Asked again and again from the SIGTERM on: the drain keeps the node serving meanwhile.
    let answer: { status: number; body: unknown } | null = null;
    while (answer?.status !== 503 && a.child.exitCode === null) {
      answer = await api(a, 'GET', '/readyz', undefined, null).catch(() => null);
    }
    assert.deepEqual(answer, { status: 503, body: { ready: false, reasons: ['draining'] } });
    assert.equal(await exit, 0);
  });
});
