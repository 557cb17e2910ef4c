/**
 * Cluster mode under the faults of its two services (docs/CLUSTER.md, "What happens when
 * PostgreSQL or Redis is down"): three node processes on a fresh PostgreSQL database and a
 * throwaway Redis of this file's own (the machine's Redis is never restarted), stock
 * y-websocket providers of one account spread over the nodes marking what they read, and
 * ingests POSTed to random nodes, while Redis is killed and restarted, and while one node's
 * PostgreSQL connections are terminated again and again.
 */
import assert from 'node:assert/strict';
import { deriveCounts } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { type ApiAnswer, api } from '../helpers/api-client.js';
import { type ClusterRig, clusterRig, cutPgConnections } from '../helpers/cluster.js';
import { docState } from '../helpers/doc-state.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { badgeBecomes, eventually, sleep } from '../helpers/eventually.js';
import { markRead } from '../helpers/marks.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';
import { type SpreadStream, spreadIngests } from '../helpers/spread-load.js';
import { startThrowawayRedis, type ThrowawayRedis } from '../helpers/throwaway-redis.js';

const THREADS = ['a', 'b', 'c'];
/** How long devices may take to converge: a lost message waits for a reconcile (3 s) at most. */
const CONVERGE_MS = 20_000;
/** How long Redis stays down: of the order of a crashed Redis restarted by its supervisor. */
const REDIS_DOWN_MS = 1_500;
/**
 * How long node C's connections are terminated again and again. Long enough for a
 * termination to land on a commit (C commits its devices' reads as ingests arrive, and each
 * commit opens a fresh connection after a termination); the cut ends as soon as C has exited.
 */
const CUT_MS = 10_000;
/** Node C's log line when a commit failed (server/src/server.ts, SPEC STORE-11). */
const FATAL_COMMIT = 'store commit failed; memory is ahead of disk, exiting';

/** One device of the account: `device` is replaced when it reconnects to another node. */
interface Holder {
  readonly name: string;
  device: Device;
}

/** The holder's device reads every thread up to the head it sees, every 20 ms while synced. */
function keepReading(holder: Holder): () => void {
  const timer = setInterval(() => {
    const { doc, provider } = holder.device;
    if (!provider.synced) return;
    for (const thread of THREADS) markRead(doc, holder.name, thread, headOf(doc, thread));
  }, 20);
  return () => clearInterval(timer);
}

/**
 * Per writer and thread, the highest marker of the writer that any other device received (was
 * relayed): what no fault may lose. Watches the docs, which survive a reconnect.
 */
function watchRelayed(holders: readonly Holder[]): Map<string, Map<string, number>> {
  const seen = new Map<string, Map<string, number>>(holders.map((h) => [h.name, new Map()]));
  for (const reader of holders) {
    const doc = reader.device.doc;
    doc.on('update', () => {
      for (const writer of holders) {
        if (writer === reader) continue;
        const marks = seen.get(writer.name) as Map<string, number>;
        for (const thread of THREADS)
          marks.set(thread, Math.max(marks.get(thread) ?? 0, markerOf(doc, writer.name, thread)));
      }
    });
  }
  return seen;
}

/** Whether every device has received a marker of every other device on every thread. */
function everyoneSeesEveryone(seen: Map<string, Map<string, number>>): boolean {
  return [...seen.values()].every((marks) => THREADS.every((t) => (marks.get(t) ?? 0) > 0));
}

/** Waits until every device holds the same document; fails with the states that differ. */
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

/** Asks `/readyz` until `want` holds; that answer. */
async function readyzUntil(
  node: ServerProcess,
  want: (answer: ApiAnswer<{ ready: boolean; reasons?: string[] }>) => boolean,
  what: string,
): Promise<ApiAnswer<{ ready: boolean; reasons?: string[] }>> {
  let last: ApiAnswer<{ ready: boolean; reasons?: string[] }> | null = null;
  await eventually(
    async () => {
      last = await api<{ ready: boolean; reasons?: string[] }>(node, 'GET', '/readyz', undefined, null).catch(
        () => null,
      );
      return last !== null && want(last);
    },
    CONVERGE_MS,
    what,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last ${JSON.stringify(last)})`);
  });
  return last as unknown as ApiAnswer<{ ready: boolean; reasons?: string[] }>;
}

describe("cluster faults: Redis restarted, a node's PostgreSQL connections cut", () => {
  let redis: ThrowawayRedis;
  let rig: ClusterRig;
  let nodes: ServerProcess[] = [];
  const devices: Device[] = [];
  const connect = async (node: ServerProcess, account: string, device: string, doc?: Device['doc']) => {
    const d = await connectDevice(node, account, device, doc === undefined ? {} : { doc });
    devices.push(d);
    await synced(d);
    return d;
  };
  /** A fresh device on each node, the account's document as each node serves it; all converged with `others`. */
  const readEverywhere = async (on: readonly ServerProcess[], account: string, others: readonly Device[]) => {
    const readers = [];
    for (const [i, node] of on.entries()) readers.push(await connect(node, account, `reader-${i}`));
    await converged([...others, ...readers], `every device of ${account} on every node to converge`);
    return readers;
  };
  /** What the load acknowledged and the devices saw relayed is in `doc`. */
  const nothingLost = (
    doc: Device['doc'],
    load: SpreadStream,
    seen: Map<string, Map<string, number>>,
    exact: boolean,
  ) => {
    for (const thread of THREADS) {
      const acked = load.tally.acked.get(thread) ?? 0;
      if (exact) assert.equal(headOf(doc, thread), acked, `head of ${thread}: the items of every acknowledged ingest`);
      else assert.ok(headOf(doc, thread) >= acked, `head of ${thread} ${headOf(doc, thread)} ≥ acknowledged ${acked}`);
      assert.ok(
        headOf(doc, thread) >= (load.tally.answeredHead.get(thread) ?? 0),
        `head of ${thread} ≥ every answered head`,
      );
      for (const [writer, marks] of seen) {
        const relayed = marks.get(thread) ?? 0;
        assert.ok(markerOf(doc, writer, thread) >= relayed, `${writer}'s marker of ${thread} ≥ ${relayed} relayed`);
      }
    }
  };

  beforeAll(async () => {
    redis = await startThrowawayRedis();
    rig = await clusterRig({ redisUrl: redis.url });
    // Together on the fresh database: one migrates it, the others find it done (STORE-25).
    nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => rig.start(id)));
  });
  afterAll(async () => {
    for (const d of devices) d.destroy();
    await stopAll();
    await redis?.kill();
    await rig?.drop();
  });

  test('[CLUSTER-42][CLUSTER-8][CLUSTER-16][CLUSTER-11][OPS-6] Redis killed -9 and restarted under load: every ingest answered 200, nothing acknowledged or relayed is lost, every device converges on every node; /readyz says redis while it is down', async () => {
    const account = 'redis-restart';
    const holders: Holder[] = [];
    for (const [i, node] of nodes.entries()) {
      const name = `dev-${i}`;
      holders.push({ name, device: await connect(node, account, name) });
    }
    const seen = watchRelayed(holders);
    const stops = holders.map(keepReading);
    const load = spreadIngests(() => nodes, account, THREADS, { workers: 3, seed: 20261202 });
    await waitFor(
      () => load.tally.requests >= 15 && everyoneSeesEveryone(seen),
      CONVERGE_MS,
      '15 ingests and markers relayed between every pair of nodes',
    );

    await redis.kill();
    for (const node of nodes) {
      const down = await readyzUntil(node, (a) => a.status !== 200, `node ${node.port} not ready with Redis down`);
      assert.equal(down.status, 503);
      assert.ok(down.body.reasons?.includes('redis'), `reasons name redis: ${JSON.stringify(down.body)}`);
    }
    const whileDown = load.tally.requests;
    await sleep(REDIS_DOWN_MS);
    await redis.start();
    for (const node of nodes) {
      const up = await readyzUntil(node, (a) => a.status === 200, `node ${node.port} ready once Redis is back`);
      assert.deepEqual(up.body, { ready: true });
    }
    const back = load.tally.requests;
    await waitFor(() => load.tally.requests >= back + 15, CONVERGE_MS, '15 more ingests with Redis back');
    await load.stop();
    for (const stop of stops) stop();

    assert.deepEqual(load.tally.failures, [], 'every ingest, also while Redis was down, answered 200');
    assert.ok(back > whileDown, `ingests were acknowledged while Redis was down (${whileDown} → ${back})`);
    const readers = await readEverywhere(
      nodes,
      account,
      holders.map((h) => h.device),
    );
    // Every ingest was answered 200: the heads are exactly their items, on every node.
    for (const reader of readers) nothingLost(reader.doc, load, seen, true);
    const truth = deriveCounts(readers[0]?.doc as Device['doc']).badge;
    for (const node of nodes) await badgeBecomes(node, account, truth, CONVERGE_MS);
    for (const node of nodes) {
      assert.ok(
        node.logs.some((line) => line.msg === 'bus subscription back: repairing every loaded account'),
        `node ${node.port} repaired its accounts when its subscription came back (CLUSTER-16)`,
      );
    }
    // [CLUSTER-11] The restarted Redis came back empty: each node wrote its devices' presence again.
    for (const [i, holder] of holders.entries()) {
      const key = `${rig.prefix}presence:${account}/${holder.name}`;
      await eventually(
        async () => (await redis.command('HEXISTS', key, `node-${'abc'[i]}`)) === '1',
        CONVERGE_MS,
        `${holder.name} online again in the restarted Redis`,
      );
    }
    for (const holder of holders) {
      assert.deepEqual(
        holder.device.closes.filter((close) => close.code >= 4000),
        [],
        'no device was refused',
      );
    }
  });

  test("[CLUSTER-43][STORE-29][STORE-24][STORE-11] a node's PostgreSQL connections terminated again and again under load: a commit that loses its connection stops the node (exit 70); nothing acknowledged or relayed is lost; its devices converge on the other nodes; a restarted node rejoins", async () => {
    const account = 'pg-cut';
    const [a, b, c] = nodes as [ServerProcess, ServerProcess, ServerProcess];
    const holders: Holder[] = [
      { name: 'a-phone', device: await connect(a, account, 'a-phone') },
      { name: 'b-phone', device: await connect(b, account, 'b-phone') },
      { name: 'c-phone', device: await connect(c, account, 'c-phone') },
      { name: 'c-mac', device: await connect(c, account, 'c-mac') },
    ];
    const seen = watchRelayed(holders);
    const stops = holders.map(keepReading);
    // The load balancer: routes to the nodes that are up (C leaves the moment it exits).
    let routed: ServerProcess[] = [a, b, c];
    let exitedAt = 0;
    c.child.once('exit', () => {
      routed = [a, b];
      exitedAt = Date.now();
    });
    const load = spreadIngests(() => routed, account, THREADS, { workers: 3, seed: 11 });
    await waitFor(
      () => load.tally.requests >= 15 && everyoneSeesEveryone(seen),
      CONVERGE_MS,
      '15 ingests and markers relayed between every pair of nodes',
    );

    const cutAt = Date.now();
    const cut = cutPgConnections(rig.database, 'node-c');
    await waitFor(
      () => c.child.exitCode !== null || Date.now() - cutAt > CUT_MS,
      CUT_MS * 2,
      'node C to exit or the cut to end',
    );
    const terminated = await cut.stop();
    assert.ok(terminated > 0, "node C's connections were found by their application_name and terminated");
    assert.equal(c.child.exitCode, 70, `node C exited with 70 (STORE-11)\n${c.stderr}`);
    assert.ok(
      c.logs.some((line) => line.msg === FATAL_COMMIT),
      'node C exited because a commit failed, not for another reason',
    );
    // Only C failed anything: a and b answered every ingest sent to them.
    const elsewhere = load.tally.failures.filter((f) => f.node !== c.http);
    assert.deepEqual(elsewhere, [], 'the nodes whose connections were not cut answered every ingest 200');
    const onC = new Map<string, number>();
    for (const f of load.tally.failures) {
      const kind = f.what.startsWith('network') ? 'network error' : f.what.slice(0, 3);
      assert.ok(kind === '500' || kind === 'network error', `C failed an ingest as 500 or by exiting: ${f.what}`);
      onC.set(kind, (onC.get(kind) ?? 0) + 1);
    }
    console.log(
      `node C: ${terminated} connections terminated, exited ${c.child.exitCode} ${exitedAt - cutAt} ms into the cut; ` +
        `ingests sent to it that failed: ${JSON.stringify(Object.fromEntries(onC))}`,
    );

    // C's devices come back through the load balancer, to the other nodes, with their replicas.
    for (const [holder, node] of [
      [holders[2], a],
      [holders[3], b],
    ] as const) {
      if (holder === undefined) continue;
      holder.device.provider.destroy();
      holder.device = await connect(node, account, holder.name, holder.device.doc);
    }
    // A restarted node (a new process, so a new node ID) rejoins and takes traffic.
    const c2 = await rig.start('node-c2');
    routed = [a, b, c2];
    const onC2 = await connect(c2, account, 'c2-tab');
    const stopC2 = keepReading({ name: 'c2-tab', device: onC2 });
    await waitFor(
      () => (load.tally.ackedBy.get(c2.http) ?? 0) >= 10,
      CONVERGE_MS,
      '10 ingests acknowledged by node C2',
    );
    await load.stop();
    for (const stop of [...stops, stopC2]) stop();

    const readers = await readEverywhere([a, b, c2], account, [...holders.map((h) => h.device), onC2]);
    // An ingest C failed (or never answered) may still have been written: at least what was acknowledged.
    for (const reader of readers) nothingLost(reader.doc, load, seen, false);
    const truth = deriveCounts(readers[0]?.doc as Device['doc']).badge;
    for (const node of [a, b, c2]) await badgeBecomes(node, account, truth, CONVERGE_MS);
    assert.deepEqual((await api(c2, 'GET', '/readyz', undefined, null)).body, { ready: true });
    for (const device of [...holders.map((h) => h.device), onC2]) {
      assert.deepEqual(
        device.closes.filter((close) => close.code >= 4000),
        [],
        'no device was refused',
      );
    }
  });
});
