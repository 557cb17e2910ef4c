/**
 * Read fan-out: A accounts × D devices, every device a stock y-websocket
 * provider writing its own read marker, at an aggregate rate stepped 1,000 → 10,000
 * updates/s; every other device of the account records when each write arrives. The same
 * clients, in the same run, against three servers in their own processes: badgesync
 * (validating and persisting every update, as in production), the reference y-websocket
 * server (@y/websocket-server 0.1.1, no persistence) and a bare relay (the floor).
 *
 *   node --import tsx fanout.ts [--quick] [--servers badgesync,reference,relay]
 *        [--rates 1000,3000] [--step-ms N] [--runs N] [--sizes 200x3,1000x3] [--workers N]
 *        [--awareness] [--cpu-prof]
 *
 * Quick: 200 × 3, one run of 3 s steps. Full: 1,000 × 3 and 3,000 × 3, three runs of 10 s
 * steps, the median of runs reported (single-run p99 is noisy on 2 cores).
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { OpenAnswer, OpenRequest, StepAnswer, StepRequest } from './clients/fanout-clients.js';
import { flag, listOption, numberOption } from './lib/args.js';
import { spawnScript } from './lib/children.js';
import { byModule, type HotFunction, hotFunctions } from './lib/cpuprofile.js';
import {
  type Size,
  type StepFigures,
  type StepResult,
  type StoreFigures,
  type Summary,
  tablesFor,
  targetsOf,
} from './lib/fanout-summary.js';
import { WorkerChannel } from './lib/ipc.js';
import {
  CpuMeter,
  cpuSeconds,
  cpuSplit,
  machineCpuSeconds,
  machineInfo,
  rssBytes,
  runQueueWaitSeconds,
} from './lib/proc.js';
import { delta, scrape } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table } from './lib/report.js';
import { api, inParallel, type RunningServer, SERVER_KINDS, type ServerKind, startServer } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const result = beginResult('fanout', 'Read fan-out: badgesync, the reference y-websocket server and a bare relay');
const quick = result.mode === 'quick';

const kinds = listOption('servers', SERVER_KINDS) as ServerKind[];
const ratesOption = listOption('rates', []).map(Number);
const rates = ratesOption.length > 0 ? ratesOption : [1_000, 3_000, 6_000, 10_000];
const awarenessEverywhere = flag('awareness');
/**
 * Full mode repeats 1,000 × 3 with awareness on at the target rate: stock providers renew
 * their awareness state every 15 s, and the benchmark sets the states at random times over
 * 15 s so that renewals do not all fire in the same instant.
 */
const sizes: Size[] = listOption('sizes', quick ? ['200x3'] : ['1000x3', '3000x3', '1000x3a']).map((key) => {
  const match = /^(\d+)x(\d+)(a?)$/.exec(key);
  if (match === null) throw new Error(`--sizes takes AxD or AxDa (awareness on), got ${key}`);
  const awareness = match[3] === 'a' || awarenessEverywhere;
  return {
    key: awareness ? `${match[1]}x${match[2]}a` : key,
    accounts: Number(match[1]),
    devices: Number(match[2]),
    awareness,
    rates: match[3] === 'a' && ratesOption.length === 0 ? [6_000] : rates,
  };
});
const stepMs = numberOption('step-ms', quick ? 3_000 : 10_000);
const runs = numberOption('runs', quick ? 1 : 3);
const workerCount = numberOption('workers', 2);
const cpuProf = flag('cpu-prof');
/** A short step before the measured ones: connections, JIT and SQLite caches settle first. */
const WARMUP = { rate: 1_000, durationMs: quick ? 1_500 : 3_000 };
const THREAD = 'inbox';
/** The thread's head on badgesync, so that every marker a device writes has seq ≤ head. */
const HEAD = 10_000;
/** A step's process counts as the limit when it used this share of one core. */
const BUSY_CORE = 0.85;
const cores = machineInfo().cores;

/**
 * Which process held the step back: one that used (nearly) a whole core, or else, when the
 * machine had no core to spare, the biggest consumer of ours: the clients or the server.
 */
function limitOf(server: number, clients: number, busiestClient: number, machineBusy: number): string {
  const limits: string[] = [];
  if (server >= BUSY_CORE) limits.push('server');
  if (busiestClient >= BUSY_CORE) limits.push('client');
  if (limits.length === 0 && machineBusy >= BUSY_CORE * cores) {
    limits.push(`all cores busy (${clients >= server ? 'clients' : 'server'} used more)`);
  }
  return limits.length === 0 ? '—' : limits.join('+');
}

async function measureServer(kind: ServerKind, size: Size, run: number): Promise<StepResult[]> {
  const profileDir = cpuProf && kind === 'badgesync' ? mkdtempSync(path.join(tmpdir(), 'badgesync-profile-')) : null;
  const server = await startServer(kind, {
    nodeFlags: profileDir === null ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir],
  });
  const workers: WorkerChannel[] = [];
  try {
    const accounts = Array.from({ length: size.accounts }, (_, i) => `acct-${i}`);
    if (kind === 'badgesync') await createHeads(server, accounts);
    for (let w = 0; w < workerCount; w++)
      workers.push(new WorkerChannel(spawnScript('clients/fanout-clients.ts', { ipc: true })));
    const share = (w: number) => accounts.filter((_, i) => i % workerCount === w);
    let offset = 0;
    const opened = await Promise.all(
      workers.map((worker, w) => {
        const mine = share(w);
        const request: OpenRequest = {
          kind,
          syncUrl: server.syncUrl,
          deviceSecret: server.deviceSecret,
          accounts: mine,
          devicesPerAccount: size.devices,
          thread: THREAD,
          maxSeq: HEAD,
          connectionOffset: offset,
          awareness: size.awareness,
        };
        offset += mine.length * size.devices;
        return worker.request<OpenAnswer>('open', request);
      }),
    );
    const ready = opened.reduce((sum, o) => sum + o.ready, 0);
    log(
      `${kind} ${size.key} run ${run + 1}: ${ready} devices ready in ${fmt.int(Math.max(...opened.map((o) => o.ms)))} ms`,
    );
    await runStep(server, workers, WARMUP.rate, WARMUP.durationMs);
    const steps: StepResult[] = [];
    for (const rate of size.rates) {
      const step = await runStep(server, workers, rate, stepMs);
      const row: StepResult = { kind, setup: size.key, accounts: size.accounts, devices: size.devices, run, ...step };
      steps.push(row);
      log(
        `  ${kind} ${fmt.int(rate)}/s: achieved ${fmt.int(row.achievedRate)}/s, p50 ${fmt.ms(row.p50)} p99 ${fmt.ms(row.p99)} ms, ` +
          `lost ${row.lost}, server ${fmt.fixed(row.serverUsPerDelivered, 1)} µs/delivered, ` +
          `cores server ${fmt.fixed(row.serverCores, 2)} clients ${fmt.fixed(row.clientCores, 2)} others ${fmt.fixed(row.otherCores, 2)}, server waiting for a CPU ${Math.round(row.serverWaiting * 100)}%, server in kernel ${Math.round(row.serverSystemShare * 100)}%, limit ${row.limit}` +
          (row.store === null
            ? ''
            : `; ${fmt.int(row.store.commits)} commits of ${fmt.fixed(row.store.updatesPerCommit, 1)} updates, ${fmt.fixed(row.store.commitMsAvg, 2)} ms each, not-yet ${row.store.notYet}, refused ${row.store.refused}`) +
          (Object.keys(row.closes).length === 0 ? '' : `; closes ${JSON.stringify(row.closes)}`),
      );
    }
    return steps;
  } finally {
    await Promise.all(workers.map((worker) => worker.request('close').catch(() => null)));
    await Promise.all(workers.map((worker) => worker.child.stop()));
    await server.stop();
    if (profileDir !== null) readProfile(profileDir, `${size.key} run ${run + 1}`);
  }
}

const profiles: Array<{
  label: string;
  file: string;
  totalMs: number;
  functions: HotFunction[];
  modules: ReturnType<typeof byModule>;
}> = [];

/** The main thread's profile (the busiest one; tsx's loader thread is the other). */
function readProfile(dir: string, label: string): void {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const read = files.map((f) => ({ file: path.join(dir, f), ...hotFunctions(path.join(dir, f), 15) }));
  const main = read.sort((a, b) => b.totalMs - a.totalMs)[0];
  if (main === undefined) return;
  profiles.push({ label, ...main, modules: byModule(main.file).slice(0, 10) });
  log(`  profile ${main.file}: ${fmt.int(main.totalMs)} ms on CPU`);
  for (const f of main.functions.slice(0, 10))
    log(`    ${(f.share * 100).toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`);
}

/** badgesync accepts a marker only up to the thread's head: post HEAD items per account first. */
async function createHeads(server: RunningServer, accounts: readonly string[]): Promise<void> {
  await inParallel(accounts, 16, async (account) => {
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: THREAD, count: HEAD });
  });
}

async function runStep(
  server: RunningServer,
  workers: WorkerChannel[],
  rate: number,
  durationMs: number,
): Promise<StepFigures> {
  const metricsBefore = server.kind === 'badgesync' ? await scrape(server.http) : null;
  const serverMeter = new CpuMeter(server.pid);
  const splitStart = cpuSplit(server.pid);
  const clientMeters = workers.map((worker) => new CpuMeter(worker.child.pid));
  const machineStart = machineCpuSeconds();
  // CPU while sending, sampled when the send window ends (the drain that follows is quieter).
  const windowCpu = new Promise<{
    server: number;
    clients: number[];
    machine: number;
    waiting: number;
    seconds: number;
  }>((resolve) => {
    const began = performance.now();
    const serverStart = cpuSeconds(server.pid);
    const waitStart = runQueueWaitSeconds(server.pid);
    const clientStart = workers.map((worker) => cpuSeconds(worker.child.pid));
    setTimeout(() => {
      const seconds = (performance.now() - began) / 1000;
      const machineNow = machineCpuSeconds();
      resolve({
        server: (cpuSeconds(server.pid) - serverStart) / seconds,
        clients: workers.map((worker, i) => (cpuSeconds(worker.child.pid) - (clientStart[i] as number)) / seconds),
        machine: (machineNow.busy - machineStart.busy) / seconds,
        waiting: (runQueueWaitSeconds(server.pid) - waitStart) / seconds,
        seconds,
      });
    }, durationMs);
  });
  const request: StepRequest = {
    rate: rate / workers.length,
    durationMs,
    maxDrainMs: Math.max(5_000, 2 * durationMs),
    quietMs: 2_000,
  };
  const answers = await Promise.all(workers.map((worker) => worker.request<StepAnswer>('step', request)));
  const window = await windowCpu;
  const serverCpuS = serverMeter.lap();
  const splitEnd = cpuSplit(server.pid);
  const serverSystem = splitEnd.system - splitStart.system;
  const serverAll = serverSystem + splitEnd.user - splitStart.user;
  const clientCpuS = clientMeters.reduce((sum, meter) => sum + meter.lap(), 0);
  const serverRss = rssBytes(server.pid);
  let store: StoreFigures | null = null;
  if (metricsBefore !== null) {
    const after = await scrape(server.http);
    const commits = delta(metricsBefore, after, 'badgesync_store_commit_seconds_count');
    store = {
      commits,
      commitMsAvg: (delta(metricsBefore, after, 'badgesync_store_commit_seconds_sum') * 1000) / commits,
      updatesPerCommit: delta(metricsBefore, after, 'badgesync_store_batch_updates_sum') / commits,
      applied: delta(metricsBefore, after, 'badgesync_updates_applied_total'),
      notYet: delta(metricsBefore, after, 'badgesync_updates_not_yet_total'),
      refused: delta(metricsBefore, after, 'badgesync_updates_refused_total'),
    };
  }
  const sent = answers.reduce((sum, a) => sum + a.sent, 0);
  const planned = answers.reduce((sum, a) => sum + a.planned, 0);
  const expected = answers.reduce((sum, a) => sum + a.expected, 0);
  const delivered = answers.reduce((sum, a) => sum + a.received, 0);
  const all = new Float64Array(answers.reduce((sum, a) => sum + a.latencies.length, 0));
  let at = 0;
  for (const answer of answers) {
    all.set(answer.latencies, at);
    at += answer.latencies.length;
  }
  all.sort();
  const sendSeconds = Math.max(...answers.map((a) => a.sendMs)) / 1000;
  const closes: Record<string, number> = {};
  for (const answer of answers)
    for (const [code, n] of Object.entries(answer.closes)) closes[code] = (closes[code] ?? 0) + n;
  const clientCores = window.clients.reduce((sum, c) => sum + c, 0);
  const busiestClientCores = Math.max(...window.clients);
  return {
    rate,
    sent,
    planned,
    achievedRate: sent / sendSeconds,
    expected,
    delivered,
    deliveredRate: delivered / sendSeconds,
    lost: expected - delivered,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    p99: percentile(all, 99),
    max: all.length === 0 ? Number.NaN : (all[all.length - 1] as number),
    serverCpuS,
    clientCpuS,
    serverCores: window.server,
    clientCores,
    busiestClientCores,
    otherCores: Math.max(0, window.machine - window.server - clientCores),
    serverWaiting: window.waiting,
    serverSystemShare: serverAll === 0 ? 0 : serverSystem / serverAll,
    serverUsPerDelivered: delivered === 0 ? Number.NaN : (serverCpuS * 1e6) / delivered,
    clientUsPerDelivered: delivered === 0 ? Number.NaN : (clientCpuS * 1e6) / delivered,
    serverRss,
    limit: limitOf(window.server, clientCores, busiestClientCores, window.machine),
    closes,
    store,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const steps: StepResult[] = [];
  for (const size of sizes) {
    for (let run = 0; run < runs; run++) {
      // Rotate the order per run, so no server always runs first (or last) on a warming machine.
      const order = kinds.map((_, i) => kinds[(i + run) % kinds.length] as ServerKind);
      for (const kind of order) steps.push(...(await measureServer(kind, size, run)));
    }
  }
  const tables: Table[] = [];
  const summaries: Record<string, Summary[]> = {};
  for (const size of sizes) {
    const built = tablesFor(
      size,
      steps.filter((s) => s.setup === size.key),
      { kinds, stepMs, runs, cores, busyCore: BUSY_CORE },
    );
    tables.push(...built.tables);
    summaries[size.key] = built.summaries;
  }
  for (const profile of profiles) {
    tables.push({
      title: `badgesync CPU profile, ${profile.label}: self time by module, then the top functions (of ${fmt.int(profile.totalMs)} ms sampled)`,
      columns: ['share', 'function', 'where'],
      rows: [
        ...profile.modules.map((m) => ({
          share: `${(m.share * 100).toFixed(1)}%`,
          function: `(all of ${m.module})`,
          where: '',
        })),
        ...profile.functions.map((f) => ({
          share: `${(f.share * 100).toFixed(1)}%`,
          function: f.name,
          where: f.where,
        })),
      ],
      notes: [
        `V8 samples the thread whatever it does: time blocked in a native call (an fsync inside a SQLite commit, a socket write) counts as that call. Profile: ${profile.file}`,
      ],
    });
  }
  const targets = targetsOf(summaries);
  const notes = [
    `clients: ${workerCount} worker processes of stock y-websocket providers (disableBc; awareness off unless the table says on: then each state is set at a random time over 15 s, so the 15 s renewals are spread), separate from the server; badgesync runs as in production (write rules, SQLite synchronous=FULL, group commit).`,
  ];
  emitResult(
    result.finish(tables, notes, { sizes, stepMs, runs, workers: workerCount, steps, summaries, profiles }, targets),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`fanout: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
