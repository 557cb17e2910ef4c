/**
 * Read fan-out (issue 6, part 1): A accounts × D devices, every device a stock y-websocket
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
import { median, percentile } from './lib/interim-stats.js';
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
import { beginResult, type Cell, emitResult, fmt, type Table, type Target } from './lib/report.js';
import { api, inParallel, type RunningServer, SERVER_KINDS, type ServerKind, startServer } from './lib/servers.js';

const result = beginResult('fanout', 'Read fan-out: badgesync, the reference y-websocket server and a bare relay');
const quick = result.mode === 'quick';

/** One setup: A accounts × D devices, awareness off or on, and the rates it steps through. */
interface Size {
  /** "1000x3", or "1000x3a" with awareness on. */
  readonly key: string;
  readonly accounts: number;
  readonly devices: number;
  readonly awareness: boolean;
  readonly rates: readonly number[];
}

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

interface StepResult {
  readonly kind: ServerKind;
  readonly setup: string;
  readonly accounts: number;
  readonly devices: number;
  readonly run: number;
  readonly rate: number;
  readonly sent: number;
  readonly planned: number;
  readonly achievedRate: number;
  readonly expected: number;
  readonly delivered: number;
  readonly deliveredRate: number;
  readonly lost: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  /** CPU seconds over the whole step (sending and draining). */
  readonly serverCpuS: number;
  readonly clientCpuS: number;
  /** Cores used while sending. */
  readonly serverCores: number;
  readonly clientCores: number;
  readonly busiestClientCores: number;
  /** Cores used by everything else on the machine while sending (other work). */
  readonly otherCores: number;
  /** Share of the send window the server's main thread was runnable but waiting for a CPU. */
  readonly serverWaiting: number;
  /** Share of the server's CPU (whole step) spent in the kernel (syscalls: socket writes, fsync). */
  readonly serverSystemShare: number;
  readonly serverUsPerDelivered: number;
  readonly clientUsPerDelivered: number;
  readonly serverRss: number;
  readonly limit: string;
  readonly closes: Record<string, number>;
  /** badgesync only (its /metrics), else null. */
  readonly store: StoreFigures | null;
}

interface StoreFigures {
  readonly commits: number;
  readonly commitMsAvg: number;
  readonly updatesPerCommit: number;
  readonly applied: number;
  readonly notYet: number;
  readonly refused: number;
}

function limitOf(server: number, busiestClient: number, machineBusy: number): string {
  const limits: string[] = [];
  if (server >= BUSY_CORE) limits.push('server');
  if (busiestClient >= BUSY_CORE) limits.push('client');
  if (limits.length === 0 && machineBusy >= BUSY_CORE * cores) limits.push('all cores busy');
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

type StepFigures = Omit<StepResult, 'kind' | 'setup' | 'accounts' | 'devices' | 'run'>;

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
    limit: limitOf(window.server, busiestClientCores, window.machine),
    closes,
    store,
  };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The median of runs of every figure of one (size, server, rate); lost updates are summed. */
interface Summary extends StepFigures {
  readonly kind: ServerKind;
  readonly runs: number;
}

function summarize(steps: readonly StepResult[]): Summary {
  const first = steps[0] as StepResult;
  const med = (pick: (s: StepResult) => number) => median(steps.map(pick));
  const limits = new Map<string, number>();
  for (const s of steps) limits.set(s.limit, (limits.get(s.limit) ?? 0) + 1);
  const closes: Record<string, number> = {};
  for (const s of steps) for (const [code, n] of Object.entries(s.closes)) closes[code] = (closes[code] ?? 0) + n;
  return {
    kind: first.kind,
    runs: steps.length,
    rate: first.rate,
    sent: med((s) => s.sent),
    planned: med((s) => s.planned),
    achievedRate: med((s) => s.achievedRate),
    expected: med((s) => s.expected),
    delivered: med((s) => s.delivered),
    deliveredRate: med((s) => s.deliveredRate),
    lost: steps.reduce((sum, s) => sum + s.lost, 0),
    p50: med((s) => s.p50),
    p90: med((s) => s.p90),
    p99: med((s) => s.p99),
    max: med((s) => s.max),
    serverCpuS: med((s) => s.serverCpuS),
    clientCpuS: med((s) => s.clientCpuS),
    serverCores: med((s) => s.serverCores),
    clientCores: med((s) => s.clientCores),
    busiestClientCores: med((s) => s.busiestClientCores),
    otherCores: med((s) => s.otherCores),
    serverWaiting: med((s) => s.serverWaiting),
    serverSystemShare: med((s) => s.serverSystemShare),
    serverUsPerDelivered: med((s) => s.serverUsPerDelivered),
    clientUsPerDelivered: med((s) => s.clientUsPerDelivered),
    serverRss: med((s) => s.serverRss),
    // The limit seen in most runs.
    limit: [...limits.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '—',
    closes,
    store: summarizeStore(steps.map((s) => s.store).filter((s): s is StoreFigures => s !== null)),
  };
}

function summarizeStore(figures: readonly StoreFigures[]): StoreFigures | null {
  if (figures.length === 0) return null;
  const med = (pick: (f: StoreFigures) => number) => median(figures.map(pick));
  return {
    commits: med((f) => f.commits),
    commitMsAvg: med((f) => f.commitMsAvg),
    updatesPerCommit: med((f) => f.updatesPerCommit),
    applied: med((f) => f.applied),
    notYet: figures.reduce((sum, f) => sum + f.notYet, 0),
    refused: figures.reduce((sum, f) => sum + f.refused, 0),
  };
}

/** Highest achieved rate among steps with p99 < 100 ms and nothing lost; null when none. */
function sustained(summaries: readonly Summary[]): number | null {
  const ok = summaries.filter((s) => s.p99 < 100 && s.lost === 0);
  return ok.length === 0 ? null : Math.max(...ok.map((s) => s.achievedRate));
}

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;

function tablesFor(size: Size, steps: readonly StepResult[]): { tables: Table[]; summaries: Summary[] } {
  const summaries: Summary[] = [];
  for (const rate of size.rates) {
    for (const kind of kinds) {
      const group = steps.filter((s) => s.kind === kind && s.rate === rate);
      if (group.length > 0) summaries.push(summarize(group));
    }
  }
  const label = `${fmt.int(size.accounts)} accounts × ${size.devices} devices${size.awareness ? ', awareness on' : ''}`;
  const runNote = runs === 1 ? 'one run' : `median of ${runs} runs (lost: total over runs)`;
  const main: Table = {
    title: `${label}: per step (${runNote}, ${stepMs / 1000} s steps)`,
    columns: [
      'target/s',
      'server',
      'achieved/s',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'max ms',
      'lost',
      'server µs/delivered',
      'client µs/delivered',
      'server cores',
      'client cores',
      'other cores',
      'server waiting',
      'server RSS',
      'limit',
    ],
    rows: summaries.map((s) => ({
      'target/s': fmt.int(s.rate),
      server: s.kind,
      'achieved/s': fmt.int(s.achievedRate),
      'p50 ms': fmt.ms(s.p50),
      'p90 ms': fmt.ms(s.p90),
      'p99 ms': fmt.ms(s.p99),
      'max ms': fmt.ms(s.max),
      lost: s.lost,
      'server µs/delivered': fmt.fixed(s.serverUsPerDelivered, 1),
      'client µs/delivered': fmt.fixed(s.clientUsPerDelivered, 1),
      'server cores': fmt.fixed(s.serverCores, 2),
      'client cores': fmt.fixed(s.clientCores, 2),
      'other cores': fmt.fixed(s.otherCores, 2),
      'server waiting': `${Math.round(s.serverWaiting * 100)}%`,
      'server RSS': fmt.bytes(s.serverRss),
      limit: s.limit,
    })),
    notes: [
      'achieved/s: writes sent per second (below target when the clients could not keep up); a write is delivered to the D − 1 other devices of its account.',
      'latency: from the write on one device to its arrival in the document of each other device of the account (same process, same clock); lost: deliveries that had not arrived when the drain after the step ended.',
      `µs/delivered: process CPU time (user + system, from /proc) over the step and its drain, divided by deliveries. cores: CPU while sending (1.00 = one core of ${cores}); other cores: everything else on the machine; server waiting: share of the time the server's event-loop thread was ready to run but waited for a CPU (/proc/<pid>/schedstat).`,
      `limit: a process that used ≥ ${BUSY_CORE} of a core while sending (Node runs each on one thread); "all cores busy" when the machine was saturated.`,
    ],
  };
  const ratioRows: Array<Record<string, Cell>> = [];
  for (const rate of size.rates) {
    const of = (kind: ServerKind) => summaries.find((s) => s.kind === kind && s.rate === rate);
    const relay = of('relay');
    const reference = of('reference');
    for (const kind of kinds.filter((k) => k !== 'relay')) {
      const s = of(kind);
      if (s === undefined) continue;
      ratioRows.push({
        'target/s': fmt.int(rate),
        server: kind,
        'p99 vs relay': fmt.ratio(ratio(s.p99, relay?.p99)),
        'p99 vs reference': kind === 'reference' ? null : fmt.ratio(ratio(s.p99, reference?.p99)),
        'CPU/delivered vs relay': fmt.ratio(ratio(s.serverUsPerDelivered, relay?.serverUsPerDelivered)),
        'CPU/delivered vs reference':
          kind === 'reference' ? null : fmt.ratio(ratio(s.serverUsPerDelivered, reference?.serverUsPerDelivered)),
      });
    }
  }
  const ratios: Table = {
    title: `${label}: ratios (same run, same clients)`,
    columns: [
      'target/s',
      'server',
      'p99 vs relay',
      'p99 vs reference',
      'CPU/delivered vs relay',
      'CPU/delivered vs reference',
    ],
    rows: ratioRows,
  };
  const bySustained = kinds.map((kind) => ({ kind, rate: sustained(summaries.filter((s) => s.kind === kind)) }));
  const referenceRate = bySustained.find((s) => s.kind === 'reference')?.rate ?? null;
  const throughput: Table = {
    title: `${label}: sustained throughput (highest achieved step with p99 < 100 ms and nothing lost)`,
    columns: ['server', 'updates/s', 'vs reference'],
    rows: bySustained.map((s) => ({
      server: s.kind,
      'updates/s': s.rate === null ? 'none' : fmt.int(s.rate),
      'vs reference': fmt.ratio(ratio(s.rate, referenceRate)),
    })),
    notes: [
      `steps are ${size.rates.map((r) => fmt.int(r)).join(', ')} updates/s: a server meeting the bound at the top step may sustain more.`,
    ],
  };
  return { tables: [main, ratios, throughput], summaries };
}

/** The issue's targets, at 1,000 × 3 and 6,000 updates/s (or the nearest size measured). */
function targetsOf(summaries: Record<string, Summary[]>): Target[] {
  const key = summaries['1000x3'] !== undefined ? '1000x3' : Object.keys(summaries)[0];
  if (key === undefined) return [];
  const at = summaries[key] as Summary[];
  const where = key === '1000x3' ? '' : ` — measured at ${key.replace('x', ' × ')}, not 1,000 × 3`;
  const point = (kind: ServerKind) => at.find((s) => s.kind === kind && s.rate === 6_000);
  const b = point('badgesync');
  const relay = point('relay');
  const targets: Target[] = [];
  const p99Ratio = ratio(b?.p99, relay?.p99);
  targets.push({
    target: `fan-out p99 ≤ 1.5× the relay's (1,000 × 3, 6,000/s)${where}`,
    measured:
      b === undefined || relay === undefined
        ? 'not measured'
        : `${fmt.ms(b.p99)} ms vs ${fmt.ms(relay.p99)} ms: ${fmt.ratio(p99Ratio)}`,
    met: p99Ratio === null ? null : p99Ratio <= 1.5,
  });
  const cpuRatio = ratio(b?.serverUsPerDelivered, relay?.serverUsPerDelivered);
  targets.push({
    target: `server CPU per delivered update ≤ 1.5× the relay's (same point)${where}`,
    measured:
      b === undefined || relay === undefined
        ? 'not measured'
        : `${fmt.fixed(b.serverUsPerDelivered, 1)} µs vs ${fmt.fixed(relay.serverUsPerDelivered, 1)} µs: ${fmt.ratio(cpuRatio)}`,
    met: cpuRatio === null ? null : cpuRatio <= 1.5,
  });
  const lostEverywhere = at.filter((s) => s.kind === 'badgesync').reduce((sum, s) => sum + s.lost, 0);
  targets.push({
    target: `no lost update (same point)${where}`,
    measured:
      b === undefined ? 'not measured' : `${b.lost} lost at 6,000/s (${lostEverywhere} over every step and run)`,
    met: b === undefined ? null : b.lost === 0,
  });
  const mine = sustained(at.filter((s) => s.kind === 'badgesync'));
  const theirs = sustained(at.filter((s) => s.kind === 'reference'));
  const throughputRatio = ratio(mine, theirs);
  targets.push({
    target: `sustained throughput at p99 < 100 ms ≥ 2× the reference server's${where}`,
    measured: `${mine === null ? 'none' : `${fmt.int(mine)}/s`} vs ${theirs === null ? 'none' : `${fmt.int(theirs)}/s`}${
      throughputRatio === null ? '' : `: ${fmt.ratio(throughputRatio)}`
    } (steps ${rates.map((r) => fmt.int(r)).join(', ')})`,
    met: mine === null ? false : theirs === null ? true : mine >= 2 * theirs,
  });
  return targets;
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
