/**
 * Cluster read fan-out (docs/CLUSTER.md): A accounts × D devices, lean clients
 * (clients/lean-clients.ts) writing read markers at one fixed aggregate rate, the devices of
 * each account spread round-robin over 1, 2 and 3 badgesync nodes sharing a real PostgreSQL
 * (a fresh database per setup, dropped after) and a real Redis (a random key prefix per setup,
 * its keys deleted after). Baselines in the same run, with the same clients: one node on
 * PostgreSQL without Redis, and the single SQLite node.
 *
 * Per setup: each node's CPU per update it delivered, the fan-out latency of deliveries whose
 * writer sat on the same node and of those that crossed nodes over the update bus (the hop),
 * the group commit's cost per update (the server's commit histogram), and the CPU the
 * PostgreSQL backends and Redis spent per update.
 *
 *   node --import tsx cluster.ts [--quick] [--setups sqlite,pg,cluster1,cluster2,cluster3]
 *        [--size 60x3] [--rate 1000] [--step-ms N] [--runs N]
 *
 * Quick: 60 × 3 at 1,000 updates/s, one 3 s step per setup. Full: 300 × 3 at 2,000 updates/s,
 * three 10 s steps per setup, the median step reported.
 */
import { readFileSync } from 'node:fs';
import type { LeanOpenAnswer, LeanOpenRequest, LeanStepAnswer, LeanStepRequest } from './clients/lean-clients.js';
import { listOption, numberOption, option } from './lib/args.js';
import { spawnScript } from './lib/children.js';
import {
  type BenchDatabase,
  createDatabase,
  deleteRedisKeys,
  pgBackendMeter,
  REDIS_URL,
  redisCpuSeconds,
  redisPrefix,
  servicesReachable,
  vapidEnv,
} from './lib/cluster-services.js';
import { WorkerChannel } from './lib/ipc.js';
import { CpuMeter, cpuSeconds, machineCpuSeconds } from './lib/proc.js';
import { delta, scrape } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table } from './lib/report.js';
import { api, inParallel, type RunningServer, startServer } from './lib/servers.js';
import { median, percentile } from './lib/stats.js';

const result = beginResult('cluster', 'Cluster: read fan-out over 1, 2 and 3 nodes (PostgreSQL + Redis)');
const quick = result.mode === 'quick';

interface Setup {
  readonly key: string;
  readonly label: string;
  readonly store: 'sqlite' | 'pg';
  readonly redis: boolean;
  readonly nodes: number;
}

const SETUPS: readonly Setup[] = [
  { key: 'sqlite', label: 'SQLite, 1 node', store: 'sqlite', redis: false, nodes: 1 },
  { key: 'pg', label: 'PostgreSQL, 1 node, no Redis', store: 'pg', redis: false, nodes: 1 },
  { key: 'cluster1', label: 'cluster, 1 node', store: 'pg', redis: true, nodes: 1 },
  { key: 'cluster2', label: 'cluster, 2 nodes', store: 'pg', redis: true, nodes: 2 },
  { key: 'cluster3', label: 'cluster, 3 nodes', store: 'pg', redis: true, nodes: 3 },
];

const chosen = listOption(
  'setups',
  SETUPS.map((s) => s.key),
);
const setups = SETUPS.filter((s) => chosen.includes(s.key));
const sizeMatch = /^(\d+)x(\d+)$/.exec(option('size') ?? (quick ? '60x3' : '300x3'));
if (sizeMatch === null) throw new Error('--size takes AxD, e.g. 60x3');
const accountCount = Number(sizeMatch[1]);
const devicesPerAccount = Number(sizeMatch[2]);
const rate = numberOption('rate', quick ? 1_000 : 2_000);
const stepMs = numberOption('step-ms', quick ? 3_000 : 10_000);
const runs = numberOption('runs', quick ? 1 : 3);
/** A short step before the measured ones: connections, pools, JIT and caches settle first. */
const WARMUP = { rate: 500, durationMs: quick ? 1_500 : 3_000 };
const THREAD = 'inbox';
/** The thread's head (one POST's most), so that every marker a device writes has seq ≤ head. */
const HEAD = 10_000;
/**
 * Nodes start one after another, each a tsx process opening a PostgreSQL pool and two Redis
 * connections; on a 2-core machine shared with other work one start took over 20 s.
 */
const NODE_START_TIMEOUT_MS = 90_000;

interface NodeFigures {
  /** CPU seconds the node used over the step (sending and draining). */
  readonly cpuS: number;
  /** Its share of a core while the clients sent. */
  readonly cores: number;
  /** Deliveries to devices connected to it. */
  readonly delivered: number;
  readonly usPerDelivered: number;
  readonly commits: number;
  readonly commitS: number;
  readonly committedUpdates: number;
  readonly applied: number;
  readonly refused: number;
}

interface StepRow {
  readonly setup: string;
  readonly run: number;
  readonly sent: number;
  readonly sentRate: number;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly same: { readonly count: number; readonly p50: number; readonly p99: number };
  readonly cross: { readonly count: number; readonly p50: number; readonly p99: number };
  readonly nodes: readonly NodeFigures[];
  readonly serverUsPerDelivered: number;
  readonly clientCores: number;
  readonly otherCores: number;
  readonly commitMsAvg: number;
  readonly updatesPerCommit: number;
  readonly commitUsPerUpdate: number;
  /** CPU of the PostgreSQL backends of this setup's database per update sent (null on SQLite). */
  readonly pgUsPerUpdate: number | null;
  /** CPU of Redis per update sent (null without Redis; the whole Redis, others' work included). */
  readonly redisUsPerUpdate: number | null;
  readonly closes: Record<string, number>;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function latencyOf(samples: readonly Float64Array[]): { count: number; p50: number; p99: number } {
  const all = new Float64Array(samples.reduce((sum, s) => sum + s.length, 0));
  let at = 0;
  for (const s of samples) {
    all.set(s, at);
    at += s.length;
  }
  all.sort();
  return { count: all.length, p50: percentile(all, 50), p99: percentile(all, 99) };
}

async function createHeads(server: RunningServer, accounts: readonly string[]): Promise<void> {
  await inParallel(accounts, 8, async (account) => {
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: THREAD, count: HEAD });
  });
}

async function startNodes(setup: Setup, database: BenchDatabase | null, prefix: string | null) {
  const nodes: RunningServer[] = [];
  const shared = vapidEnv();
  let apiKey: string | undefined;
  let deviceSecret: string | undefined;
  for (let n = 0; n < setup.nodes; n++) {
    const env: Record<string, string> = { ...shared };
    if (database !== null) env.BADGESYNC_DATABASE_URL = database.url;
    if (prefix !== null) {
      env.BADGESYNC_REDIS_URL = REDIS_URL;
      env.BADGESYNC_REDIS_PREFIX = prefix;
      env.BADGESYNC_NODE_ID = `bench-node-${n}`;
    }
    const node = await startServer('badgesync', {
      env,
      startTimeoutMs: NODE_START_TIMEOUT_MS,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(deviceSecret === undefined ? {} : { deviceSecret }),
    });
    apiKey = node.apiKey;
    deviceSecret = node.deviceSecret;
    nodes.push(node);
  }
  return nodes;
}

async function runStep(
  setup: Setup,
  nodes: readonly RunningServer[],
  worker: WorkerChannel,
  database: BenchDatabase | null,
  stepRate: number,
  durationMs: number,
  run: number,
): Promise<StepRow> {
  const request: LeanStepRequest = {
    rate: stepRate,
    durationMs,
    maxDrainMs: Math.max(5_000, 2 * durationMs),
    quietMs: 2_000,
  };
  await worker.request<number>('prepare', request);
  const before = await Promise.all(nodes.map((node) => scrape(node.http)));
  const pg = database === null ? null : await pgBackendMeter(database.name);
  const redisBefore = setup.redis ? await redisCpuSeconds() : null;
  const meters = nodes.map((node) => new CpuMeter(node.pid));
  const clientMeter = new CpuMeter(worker.child.pid);
  // Cores while sending, sampled when the send window ends (the drain that follows is quieter).
  const window = new Promise<{ nodes: number[]; client: number; machine: number }>((resolve) => {
    const began = performance.now();
    const nodeStart = nodes.map((node) => cpuSeconds(node.pid));
    const clientStart = cpuSeconds(worker.child.pid);
    const machineStart = machineCpuSeconds().busy;
    setTimeout(() => {
      const seconds = (performance.now() - began) / 1000;
      resolve({
        nodes: nodes.map((node, i) => (cpuSeconds(node.pid) - (nodeStart[i] as number)) / seconds),
        client: (cpuSeconds(worker.child.pid) - clientStart) / seconds,
        machine: (machineCpuSeconds().busy - machineStart) / seconds,
      });
    }, durationMs);
  });
  const answer = await worker.request<LeanStepAnswer>('step', request);
  const cores = await window;
  const nodeCpu = meters.map((meter) => meter.lap());
  clientMeter.lap();
  const pgCpu = pg === null ? null : pg.lap();
  const redisCpu = redisBefore === null ? null : (await redisCpuSeconds()) - redisBefore;
  const after = await Promise.all(nodes.map((node) => scrape(node.http)));
  const figures: NodeFigures[] = nodes.map((_, i) => {
    const b = before[i] as Map<string, number>;
    const a = after[i] as Map<string, number>;
    const delivered = answer.receivedByNode[i] ?? 0;
    const cpuS = nodeCpu[i] as number;
    return {
      cpuS,
      cores: cores.nodes[i] as number,
      delivered,
      usPerDelivered: delivered === 0 ? Number.NaN : (cpuS * 1e6) / delivered,
      commits: delta(b, a, 'badgesync_store_commit_seconds_count'),
      commitS: delta(b, a, 'badgesync_store_commit_seconds_sum'),
      committedUpdates: delta(b, a, 'badgesync_store_batch_updates_sum'),
      applied: delta(b, a, 'badgesync_updates_applied_total'),
      refused: delta(b, a, 'badgesync_updates_refused_total') + delta(b, a, 'badgesync_updates_not_yet_total'),
    };
  });
  const sum = (pick: (n: NodeFigures) => number) => figures.reduce((total, n) => total + pick(n), 0);
  const commits = sum((n) => n.commits);
  const committed = sum((n) => n.committedUpdates);
  const serverCpuS = sum((n) => n.cpuS);
  const nodeCores = cores.nodes.reduce((total, c) => total + c, 0);
  return {
    setup: setup.key,
    run,
    sent: answer.sent,
    sentRate: answer.sent / (answer.sendMs / 1000),
    expected: answer.expected,
    delivered: answer.received,
    lost: answer.expected - answer.received,
    same: latencyOf([answer.sameNode]),
    cross: latencyOf([answer.crossNode]),
    nodes: figures,
    serverUsPerDelivered: answer.received === 0 ? Number.NaN : (serverCpuS * 1e6) / answer.received,
    clientCores: cores.client,
    otherCores: Math.max(0, cores.machine - nodeCores - cores.client),
    commitMsAvg: commits === 0 ? Number.NaN : (sum((n) => n.commitS) * 1000) / commits,
    updatesPerCommit: commits === 0 ? Number.NaN : committed / commits,
    commitUsPerUpdate: committed === 0 ? Number.NaN : (sum((n) => n.commitS) * 1e6) / committed,
    pgUsPerUpdate: pgCpu === null || answer.sent === 0 ? null : (pgCpu * 1e6) / answer.sent,
    redisUsPerUpdate: redisCpu === null || answer.sent === 0 ? null : (redisCpu * 1e6) / answer.sent,
    closes: answer.closes,
  };
}

async function measureSetup(setup: Setup): Promise<StepRow[]> {
  const database = setup.store === 'pg' ? await createDatabase() : null;
  const prefix = setup.redis ? redisPrefix() : null;
  let nodes: RunningServer[] = [];
  let worker: WorkerChannel | null = null;
  try {
    nodes = await startNodes(setup, database, prefix);
    const accounts = Array.from({ length: accountCount }, (_, i) => `acct-${i}`);
    await createHeads(nodes[0] as RunningServer, accounts);
    worker = new WorkerChannel(spawnScript('clients/lean-clients.ts', { ipc: true }));
    const first = nodes[0] as RunningServer;
    const open: LeanOpenRequest = {
      kind: 'badgesync',
      syncUrl: first.syncUrl,
      syncUrls: nodes.map((node) => node.syncUrl),
      deviceSecret: first.deviceSecret,
      accounts,
      devicesPerAccount,
      thread: THREAD,
      maxSeq: HEAD,
      connectionOffset: 0,
    };
    const opened = await worker.request<LeanOpenAnswer>('open', open);
    log(`${setup.label}: ${opened.ready} lean devices ready in ${fmt.int(opened.ms)} ms`);
    await runStep(setup, nodes, worker, database, WARMUP.rate, WARMUP.durationMs, -1);
    const rows: StepRow[] = [];
    for (let run = 0; run < runs; run++) {
      const row = await runStep(setup, nodes, worker, database, rate, stepMs, run);
      rows.push(row);
      log(
        `  ${setup.label} run ${run + 1}: sent ${fmt.int(row.sentRate)}/s, lost ${fmt.int(row.lost)}, ` +
          `same-node p50 ${fmt.ms(row.same.p50) ?? '—'} p99 ${fmt.ms(row.same.p99) ?? '—'} ms (${fmt.int(row.same.count)}), ` +
          `cross-node p50 ${fmt.ms(row.cross.p50) ?? '—'} p99 ${fmt.ms(row.cross.p99) ?? '—'} ms (${fmt.int(row.cross.count)}), ` +
          `server ${fmt.fixed(row.serverUsPerDelivered, 1)} µs/delivered (${row.nodes.map((n) => fmt.fixed(n.usPerDelivered, 1)).join(' / ')}), ` +
          `${fmt.fixed(row.updatesPerCommit, 1)} updates/commit, ${fmt.fixed(row.commitMsAvg, 2)} ms/commit, ` +
          `pg ${fmt.fixed(row.pgUsPerUpdate, 1) ?? '—'} µs/update, redis ${fmt.fixed(row.redisUsPerUpdate, 1) ?? '—'} µs/update, ` +
          `refused ${fmt.int(row.nodes.reduce((s, n) => s + n.refused, 0))}` +
          (Object.keys(row.closes).length === 0 ? '' : `, closes ${JSON.stringify(row.closes)}`),
      );
    }
    return rows;
  } finally {
    if (worker !== null) {
      await worker.request('close').catch(() => null);
      await worker.child.stop();
    }
    await Promise.all(nodes.map((node) => node.stop()));
    if (database !== null) await database.drop();
    if (prefix !== null) await deleteRedisKeys(prefix);
  }
}

/** The run whose all-node CPU per delivered update is the median (one run: that run). */
function medianRow(rows: readonly StepRow[]): StepRow | undefined {
  const m = median(rows.map((r) => r.serverUsPerDelivered));
  return [...rows].sort((a, b) => Math.abs(a.serverUsPerDelivered - m) - Math.abs(b.serverUsPerDelivered - m))[0];
}

function ms(n: number): string | null {
  const text = fmt.ms(n);
  return text === null ? null : `${text} ms`;
}

/** The load average (1, 5, 15 min): the machine is shared, and the figures depend on it. */
function readLoad(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

async function main(): Promise<void> {
  const unreachable = await servicesReachable();
  const active = unreachable === null ? setups : setups.filter((s) => s.store === 'sqlite');
  if (unreachable !== null) log(`cluster: ${unreachable}; measuring the SQLite node only (bash scripts/setup.sh)`);
  const loadAtStart = readLoad();
  const rows: StepRow[] = [];
  for (const setup of active) rows.push(...(await measureSetup(setup)));
  const picked = active.flatMap((setup) => {
    const row = medianRow(rows.filter((r) => r.setup === setup.key));
    return row === undefined ? [] : [{ setup, row }];
  });
  const sqlite = picked.find((p) => p.setup.key === 'sqlite')?.row;
  const sizeText = `${accountCount} accounts × ${devicesPerAccount} devices, ${fmt.int(rate)} updates/s, ${stepMs / 1000} s steps${runs > 1 ? `, median of ${runs} runs` : ''}, lean clients`;
  const fanout: Table = {
    title: `Fan-out per setup (${sizeText})`,
    columns: [
      'setup',
      'sent/s',
      'delivered',
      'lost',
      'server µs / delivered (all nodes)',
      'vs SQLite',
      'per node µs / delivered',
      'node cores',
      'same-node p50 / p99',
      'cross-node p50 / p99',
      'hop (p50)',
    ],
    rows: picked.map(({ setup, row }) => ({
      setup: setup.label,
      'sent/s': fmt.int(row.sentRate),
      delivered: fmt.int(row.delivered),
      lost: fmt.int(row.lost),
      'server µs / delivered (all nodes)': fmt.fixed(row.serverUsPerDelivered, 1),
      'vs SQLite': sqlite === undefined ? null : fmt.ratio(row.serverUsPerDelivered / sqlite.serverUsPerDelivered),
      'per node µs / delivered': row.nodes.map((n) => fmt.fixed(n.usPerDelivered, 1) ?? '—').join(' / '),
      'node cores': row.nodes.map((n) => fmt.fixed(n.cores, 2) ?? '—').join(' / '),
      'same-node p50 / p99': row.same.count === 0 ? '—' : `${ms(row.same.p50)} / ${ms(row.same.p99)}`,
      'cross-node p50 / p99': row.cross.count === 0 ? '—' : `${ms(row.cross.p50)} / ${ms(row.cross.p99)}`,
      'hop (p50)': row.cross.count === 0 || row.same.count === 0 ? '—' : ms(row.cross.p50 - row.same.p50),
    })),
    notes: [
      'server µs / delivered: the CPU of every node over the step (sending and draining) divided by the updates the devices received; per node: a node’s CPU over the deliveries to its own devices (it also applies the updates the other nodes publish for its accounts).',
      'same-node: the writer and the receiving device on one node; cross-node: the update crossed the Redis bus (published after the PostgreSQL commit, applied and relayed by the other node). hop = cross-node p50 − same-node p50.',
      'node cores: each node’s share of a core while the clients sent.',
      ...(active.some((s) => s.nodes >= devicesPerAccount)
        ? [
            `with ${devicesPerAccount} devices per account on ${devicesPerAccount} or more nodes every device of an account is on a node of its own: every delivery crosses nodes and there is no same-node figure to take the hop from (--size ${accountCount}x${devicesPerAccount + 1} gives both).`,
          ]
        : []),
    ],
  };
  const database: Table = {
    title: `The store and the bus per setup (${sizeText})`,
    columns: [
      'setup',
      'commits',
      'updates / commit',
      'ms / commit',
      'commit µs / update',
      'PostgreSQL backends µs CPU / update',
      'Redis µs CPU / update',
      'client cores',
      'other cores',
    ],
    rows: picked.map(({ setup, row }) => ({
      setup: setup.label,
      commits: fmt.int(row.nodes.reduce((s, n) => s + n.commits, 0)),
      'updates / commit': fmt.fixed(row.updatesPerCommit, 1),
      'ms / commit': fmt.fixed(row.commitMsAvg, 2),
      'commit µs / update': fmt.fixed(row.commitUsPerUpdate, 0),
      'PostgreSQL backends µs CPU / update': row.pgUsPerUpdate === null ? '—' : fmt.fixed(row.pgUsPerUpdate, 1),
      'Redis µs CPU / update': row.redisUsPerUpdate === null ? '—' : fmt.fixed(row.redisUsPerUpdate, 1),
      'client cores': fmt.fixed(row.clientCores, 2),
      'other cores': fmt.fixed(row.otherCores, 2),
    })),
    notes: [
      'commits, ms / commit, commit µs / update: from each node’s badgesync_store_commit_seconds and badgesync_store_batch_updates histograms (the group commit, from handing the batch over to durable: SQLite with synchronous=FULL, or the PostgreSQL transaction of commitWithSeqs with its seqs); wall time, summed over the nodes, divided by the updates committed. Compare it with the PostgreSQL backends’ CPU: what the commit spends beyond that is waiting (statement round trips through the node’s event loop, the WAL flush), not the database computing.',
      'PostgreSQL backends: CPU of the server processes serving this setup’s database (pg_stat_activity at the step’s start, /proc), per update sent; the WAL writer and checkpointer, shared with every database, are not counted.',
      'Redis: the whole Redis’s CPU (INFO cpu) per update sent: other work on this machine’s Redis (tests of other engineers) counts too, so it is an upper bound.',
    ],
  };
  const notes = [
    `clients: one worker process of lean clients (raw protocol frames); device i connects to node i mod N, so with 3 devices per account an account has devices on every node of a 2- or 3-node cluster. Each setup has its own fresh database and Redis prefix, removed after. Load average (1, 5, 15 min) at the start: ${loadAtStart}; at the end: ${readLoad()}.`,
    'What the figures imply for a real deployment: this machine has 2 cores, so 2 and 3 nodes share the cores the 1-node run had, and a cluster cannot show more throughput here; read the per-update costs, not the totals. ' +
      '(1) Per node: every node holding an account applies and relays every update of that account, its own devices’ and the others’ (without judging or storing them again), so a node’s CPU follows the updates of the accounts it holds, not only its devices’ writes: spreading one account’s devices over N nodes multiplies that account’s apply cost by N. Nodes add capacity when accounts mostly live on one node each (a load balancer with account affinity), and a cross-node account costs each extra node about one apply and relay per update. ' +
      '(2) The hop: a cross-node delivery waits for the writer’s PostgreSQL commit, as a same-node one does, then one Redis publish and the other node’s apply and relay; the hop column is that extra delay on this loopback machine, to which a real network adds its round trips. ' +
      '(3) The database is the shared bottleneck: every node commits every device write to the one PostgreSQL (group commits per node, the account’s row lock serializing nodes writing to one account), so the cluster’s write ceiling is PostgreSQL’s commit rate and WAL fsync, whatever the number of nodes; the PostgreSQL CPU per update and the commit time per update above are what to multiply by the expected write rate when sizing it. Redis carries every update once per publish and is cheap beside it.',
  ];
  emitResult(
    result.finish([fanout, database], notes, {
      size: { accounts: accountCount, devices: devicesPerAccount },
      rate,
      stepMs,
      runs,
      loadAtStart,
      loadAtEnd: readLoad(),
      unreachable,
      rows,
    }),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
