/**
 * The servers' real ceiling: lean clients (clients/lean-clients.ts: raw protocol frames,
 * encoded before each step, no Yjs document per device) write read markers at stepped
 * aggregate rates against badgesync (validating and persisting every update), the
 * reference y-websocket server (@y/websocket-server 0.1.1) and the bare relay, each in its
 * own process. Per server: the highest rate sustained — sent on schedule, p99 fan-out
 * latency under 100 ms, no update lost — and the CPU of the server and of the clients at
 * every step, so the table shows which of them ran out first.
 *
 *   node --import tsx ceiling.ts [--quick] [--servers badgesync,reference,relay]
 *        [--rates 2000,5000,10000] [--step-ms N] [--size 200x3] [--workers N] [--keep-going]
 *        [--client-prof DIR]
 *
 * Quick: 2,000 / 5,000 / 10,000 / 20,000 updates/s, 3 s steps. Full: 2,000 / 5,000 /
 * 10,000 / 15,000 / 20,000 / 25,000 updates/s, 10 s steps. A server's stepping stops after
 * two failed steps in a row unless --keep-going.
 */
import { readFileSync } from 'node:fs';
import type { LeanOpenAnswer, LeanOpenRequest, LeanStepAnswer, LeanStepRequest } from './clients/lean-clients.js';
import { flag, listOption, numberOption, option } from './lib/args.js';
import { spawnScript } from './lib/children.js';
import { WorkerChannel } from './lib/ipc.js';
import { cpuSeconds, machineCpuSeconds, machineInfo, runQueueWaitSeconds } from './lib/proc.js';
import { delta, scrape } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table, type Target } from './lib/report.js';
import { api, inParallel, type RunningServer, SERVER_KINDS, type ServerKind, startServer } from './lib/servers.js';
import { percentile } from './lib/stats.js';

const result = beginResult('ceiling', 'Ceiling: the highest rate each server sustains, with lean clients');
const quick = result.mode === 'quick';

const kinds = listOption('servers', SERVER_KINDS) as ServerKind[];
const ratesOption = listOption('rates', []).map(Number);
const rates =
  ratesOption.length > 0
    ? ratesOption
    : quick
      ? [2_000, 5_000, 10_000, 20_000]
      : [2_000, 5_000, 10_000, 15_000, 20_000, 25_000];
const stepMs = numberOption('step-ms', quick ? 3_000 : 10_000);
const sizeMatch = /^(\d+)x(\d+)$/.exec(option('size') ?? '200x3');
if (sizeMatch === null) throw new Error('--size takes AxD, e.g. 200x3');
const accountCount = Number(sizeMatch[1]);
const devicesPerAccount = Number(sizeMatch[2]);
/** One worker is enough for lean clients; each extra process is one more to schedule on 2 cores. */
const workerCount = numberOption('workers', 1);
const keepGoing = flag('keep-going');
/** --client-prof DIR: V8 CPU profiles of the client workers, to see what the clients spend. */
const clientProfDir = option('client-prof');
/** A short step before the measured ones: connections, JIT and SQLite caches settle first. */
const WARMUP = { rate: 1_000, durationMs: quick ? 1_500 : 3_000 };
const THREAD = 'inbox';
/**
 * The thread's head on badgesync (one POST's most), so that every marker a device writes
 * has seq ≤ head: 200 × 3 devices at 25,000/s for 10 s write ~420 markers each per step.
 */
const HEAD = 10_000;
/**
 * A server's stepping stops after this many failed steps in a row: one can be another
 * process taking the cores for a moment (the machine is shared), two mean the rate is past it.
 */
const STOP_AFTER_FAILED = 2;
/** The latency bound a sustained rate must keep, at p99 (the throughput target in README Performance). */
const P99_BOUND_MS = 100;
/** A step is "on schedule" when the clients sent at least this share of what it asked for. */
const ON_SCHEDULE = 0.95;
const cores = machineInfo().cores;

interface StepRow {
  readonly kind: ServerKind;
  readonly rate: number;
  readonly achievedRate: number;
  readonly deliveredRate: number;
  readonly expected: number;
  readonly delivered: number;
  readonly lost: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly serverCores: number;
  readonly clientCores: number;
  readonly otherCores: number;
  /** Share of the step the server's main thread was runnable but had no CPU (other work on the machine). */
  readonly serverWaiting: number;
  readonly closes: Record<string, number>;
  /** badgesync only (null for the others): updates it checked, applied and persisted in the step. */
  readonly applied: number | null;
  /** badgesync only: updates its write rules refused or held back as not yet applicable. */
  readonly refused: number | null;
  readonly sustained: boolean;
  /** Why a step was not sustained ('' when it was). */
  readonly why: string;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** badgesync accepts a marker only up to the thread's head: post HEAD items per account first. */
async function createHeads(server: RunningServer, accounts: readonly string[]): Promise<void> {
  await inParallel(accounts, 16, async (account) => {
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: THREAD, count: HEAD });
  });
}

async function runStep(server: RunningServer, workers: WorkerChannel[], rate: number, durationMs: number) {
  const request: LeanStepRequest = {
    rate: rate / workers.length,
    durationMs,
    maxDrainMs: Math.max(5_000, 2 * durationMs),
    quietMs: 2_000,
  };
  // The step's frames are encoded before its CPU window opens: it measures sending only.
  await Promise.all(workers.map((worker) => worker.request<number>('prepare', request)));
  const metricsBefore = server.kind === 'badgesync' ? await scrape(server.http) : null;
  // CPU while sending, sampled when the send window ends (the drain that follows is quieter).
  const window = new Promise<{ server: number; clients: number; machine: number; waiting: number }>((resolve) => {
    const began = performance.now();
    const serverStart = cpuSeconds(server.pid);
    const clientStart = workers.map((worker) => cpuSeconds(worker.child.pid));
    const machineStart = machineCpuSeconds().busy;
    const waitStart = runQueueWaitSeconds(server.pid);
    setTimeout(() => {
      const seconds = (performance.now() - began) / 1000;
      resolve({
        server: (cpuSeconds(server.pid) - serverStart) / seconds,
        clients:
          workers.reduce((sum, w, i) => sum + (cpuSeconds(w.child.pid) - (clientStart[i] as number)), 0) / seconds,
        machine: (machineCpuSeconds().busy - machineStart) / seconds,
        waiting: (runQueueWaitSeconds(server.pid) - waitStart) / seconds,
      });
    }, durationMs);
  });
  const answers = await Promise.all(workers.map((worker) => worker.request<LeanStepAnswer>('step', request)));
  const cpu = await window;
  const sum = (pick: (a: LeanStepAnswer) => number) => answers.reduce((total, a) => total + pick(a), 0);
  const all = new Float64Array(sum((a) => a.latencies.length));
  let at = 0;
  for (const answer of answers) {
    all.set(answer.latencies, at);
    at += answer.latencies.length;
  }
  all.sort();
  const closes: Record<string, number> = {};
  for (const answer of answers)
    for (const [code, n] of Object.entries(answer.closes)) closes[code] = (closes[code] ?? 0) + n;
  const sendSeconds = Math.max(...answers.map((a) => a.sendMs)) / 1000;
  const metricsAfter = metricsBefore === null ? null : await scrape(server.http);
  const counted = (name: string) =>
    metricsBefore === null || metricsAfter === null ? null : delta(metricsBefore, metricsAfter, name);
  const refused = counted('badgesync_updates_refused_total');
  const notYet = counted('badgesync_updates_not_yet_total');
  return {
    applied: counted('badgesync_updates_applied_total'),
    refused: refused === null || notYet === null ? null : refused + notYet,
    sent: sum((a) => a.sent),
    planned: sum((a) => a.planned),
    expected: sum((a) => a.expected),
    delivered: sum((a) => a.received),
    sendSeconds,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all.length === 0 ? Number.NaN : (all[all.length - 1] as number),
    cpu,
    closes,
  };
}

async function measureServer(kind: ServerKind): Promise<StepRow[]> {
  const server = await startServer(kind);
  const workers: WorkerChannel[] = [];
  try {
    const accounts = Array.from({ length: accountCount }, (_, i) => `acct-${i}`);
    if (kind === 'badgesync') await createHeads(server, accounts);
    for (let w = 0; w < workerCount; w++)
      workers.push(
        new WorkerChannel(
          spawnScript('clients/lean-clients.ts', {
            ipc: true,
            nodeFlags: clientProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', clientProfDir],
          }),
        ),
      );
    let offset = 0;
    const opened = await Promise.all(
      workers.map((worker, w) => {
        const mine = accounts.filter((_, i) => i % workerCount === w);
        const request: LeanOpenRequest = {
          kind,
          syncUrl: server.syncUrl,
          deviceSecret: server.deviceSecret,
          accounts: mine,
          devicesPerAccount,
          thread: THREAD,
          maxSeq: HEAD,
          connectionOffset: offset,
        };
        offset += mine.length * devicesPerAccount;
        return worker.request<LeanOpenAnswer>('open', request);
      }),
    );
    const ready = opened.reduce((total, o) => total + o.ready, 0);
    log(`${kind}: ${ready} lean devices ready in ${fmt.int(Math.max(...opened.map((o) => o.ms)))} ms`);
    await runStep(server, workers, WARMUP.rate, WARMUP.durationMs);
    const rows: StepRow[] = [];
    let failedInARow = 0;
    for (const rate of rates) {
      const step = await runStep(server, workers, rate, stepMs);
      const achievedRate = step.sent / step.sendSeconds;
      const lost = step.expected - step.delivered;
      const reasons: string[] = [];
      if (step.sent < ON_SCHEDULE * step.planned || achievedRate < ON_SCHEDULE * rate) reasons.push('behind schedule');
      if (lost > 0) reasons.push(`${fmt.int(lost)} lost`);
      if (!(step.p99 < P99_BOUND_MS)) reasons.push(`p99 ≥ ${P99_BOUND_MS} ms`);
      if (Object.keys(step.closes).length > 0) reasons.push(`closes ${JSON.stringify(step.closes)}`);
      if (step.refused !== null && step.refused > 0) reasons.push(`${fmt.int(step.refused)} refused or not yet`);
      const row: StepRow = {
        kind,
        rate,
        achievedRate,
        deliveredRate: step.delivered / step.sendSeconds,
        expected: step.expected,
        delivered: step.delivered,
        lost,
        p50: step.p50,
        p99: step.p99,
        max: step.max,
        serverCores: step.cpu.server,
        clientCores: step.cpu.clients,
        otherCores: Math.max(0, step.cpu.machine - step.cpu.server - step.cpu.clients),
        serverWaiting: step.cpu.waiting,
        closes: step.closes,
        applied: step.applied,
        refused: step.refused,
        sustained: reasons.length === 0,
        why: reasons.join(', '),
      };
      rows.push(row);
      log(
        `  ${kind} ${fmt.int(rate)}/s: sent ${fmt.int(achievedRate)}/s, p50 ${fmt.ms(row.p50)} p99 ${fmt.ms(row.p99)} ms, ` +
          `lost ${fmt.int(lost)}, cores server ${fmt.fixed(row.serverCores, 2)} clients ${fmt.fixed(row.clientCores, 2)} ` +
          `others ${fmt.fixed(row.otherCores, 2)}${row.applied === null ? '' : `, applied ${fmt.int(row.applied)} refused ${fmt.int(row.refused)}`}, server waiting for a CPU ${Math.round(row.serverWaiting * 100)} %${row.sustained ? '' : ` — not sustained: ${row.why}`}`,
      );
      failedInARow = row.sustained ? 0 : failedInARow + 1;
      if (failedInARow >= STOP_AFTER_FAILED && !keepGoing) break;
    }
    return rows;
  } finally {
    await Promise.all(workers.map((worker) => worker.request('close').catch(() => null)));
    await Promise.all(workers.map((worker) => worker.child.stop()));
    await server.stop();
  }
}

/** Who ran out first at a step: the process nearest a whole core, when one was near it. */
/** The ceiling between steps: the highest rate that held, and the lowest failed rate above it. */
function bounds(rows: readonly StepRow[]): { held: number | null; failedAbove: number | null } {
  const held = rows.filter((r) => r.sustained).reduce<number | null>((best, r) => Math.max(best ?? 0, r.rate), null);
  const failedAbove = rows
    .filter((r) => !r.sustained && r.rate > (held ?? 0))
    .reduce<number | null>((low, r) => Math.min(low ?? Number.POSITIVE_INFINITY, r.rate), null);
  return { held, failedAbove };
}

/**
 * badgesync's ceiling ≥ 2× the reference server's, as far as the steps decide it: met when
 * badgesync held at twice a rate the reference failed at; missed when badgesync failed at
 * or below twice a rate the reference held; undecided (null) between.
 */
function throughputTarget(rows: readonly StepRow[]): Target | null {
  if (!kinds.includes('badgesync') || !kinds.includes('reference')) return null;
  const mine = bounds(rows.filter((r) => r.kind === 'badgesync'));
  const theirs = bounds(rows.filter((r) => r.kind === 'reference'));
  const range = (b: { held: number | null; failedAbove: number | null }) => {
    if (b.held === null) return b.failedAbove === null ? 'not measured' : `< ${fmt.int(b.failedAbove)}/s`;
    return b.failedAbove === null ? `≥ ${fmt.int(b.held)}/s` : `≥ ${fmt.int(b.held)}/s, < ${fmt.int(b.failedAbove)}/s`;
  };
  let met: boolean | null = null;
  if (mine.held !== null && theirs.failedAbove !== null && mine.held >= 2 * theirs.failedAbove) met = true;
  else if (mine.held === null && theirs.held !== null) met = false;
  else if (mine.failedAbove !== null && mine.failedAbove <= 2 * (theirs.held ?? 0)) met = false;
  return {
    target: "sustained throughput at p99 < 100 ms ≥ 2× the reference server's (lean clients, ceiling.ts)",
    measured: `${range(mine)} vs ${range(theirs)}`,
    met,
  };
}

function saturated(row: StepRow): string {
  const busy = 0.85;
  if (row.serverCores >= busy && row.serverCores > row.clientCores) return 'server';
  if (row.clientCores >= busy) return 'clients';
  if (row.serverCores + row.clientCores + row.otherCores >= busy * cores) return 'machine';
  return '—';
}

async function main(): Promise<void> {
  const loadAtStart = readLoad();
  const rows: StepRow[] = [];
  for (const kind of kinds) rows.push(...(await measureServer(kind)));
  const stepsTable: Table = {
    title: `Steps (${accountCount} accounts × ${devicesPerAccount} devices, ${stepMs / 1000} s per step, lean clients)`,
    columns: [
      'server',
      'rate',
      'sent/s',
      'delivered/s',
      'p50',
      'p99',
      'max',
      'lost',
      'applied',
      'server cores',
      'client cores',
      'other cores',
      'server waiting',
      'first out',
      'sustained',
    ],
    rows: rows.map((r) => ({
      server: r.kind,
      rate: fmt.int(r.rate),
      'sent/s': fmt.int(r.achievedRate),
      'delivered/s': fmt.int(r.deliveredRate),
      p50: `${fmt.ms(r.p50)} ms`,
      p99: `${fmt.ms(r.p99)} ms`,
      max: `${fmt.ms(r.max)} ms`,
      lost: fmt.int(r.lost),
      applied: fmt.int(r.applied),
      'server cores': fmt.fixed(r.serverCores, 2),
      'client cores': fmt.fixed(r.clientCores, 2),
      'other cores': fmt.fixed(r.otherCores, 2),
      'server waiting': `${Math.round(r.serverWaiting * 100)} %`,
      'first out': saturated(r),
      sustained: r.sustained ? 'yes' : `no: ${r.why}`,
    })),
    notes: [
      'applied: updates badgesync checked against its write rules, applied and persisted in the step (its /metrics), "—" for the servers that check nothing; a refused or not-yet update fails the step',
      'rate: updates/s the clients were asked to send; delivered/s: relays that reached the account’s other devices (each update goes to D − 1 of them)',
      'cores: CPU seconds per second while sending, from /proc; "other" is the rest of the machine (other work on it)',
      'server waiting: share of the step the server’s main thread was ready to run but had no CPU (/proc schedstat): the machine, not the server, held it back',
      `first out: the process that used ≥ 0.85 of a core (server only when it used more than the clients), or "machine" when all ${cores} cores were busy`,
    ],
  };
  const summaryRows = kinds.map((kind) => {
    const mine = rows.filter((r) => r.kind === kind);
    const best = mine.filter((r) => r.sustained).sort((a, b) => b.rate - a.rate)[0];
    const failed = mine.find((r) => !r.sustained);
    return {
      server: kind,
      ceiling:
        best === undefined
          ? `< ${fmt.int(rates[0] ?? 0)}/s`
          : `≥ ${fmt.int(best.rate)}/s${failed !== undefined && failed.rate < best.rate ? ' (a lower step failed)' : ''}`,
      'p99 there': best === undefined ? null : `${fmt.ms(best.p99)} ms`,
      'server cores there': best === undefined ? null : fmt.fixed(best.serverCores, 2),
      'client cores there': best === undefined ? null : fmt.fixed(best.clientCores, 2),
      'first failed step':
        failed === undefined ? 'none (highest rate tried)' : `${fmt.int(failed.rate)}/s: ${failed.why}`,
      'first out there': failed === undefined ? null : saturated(failed),
    };
  });
  const summary: Table = {
    title: `Highest rate sustained at p99 < ${P99_BOUND_MS} ms with no lost update`,
    columns: [
      'server',
      'ceiling',
      'p99 there',
      'server cores there',
      'client cores there',
      'first failed step',
      'first out there',
    ],
    rows: summaryRows,
    notes: [
      `"≥ R": R was the highest rate that held; the ceiling lies between it and the next rate tried. "a lower step failed": the machine, shared with other work, held back a lower step (see "server waiting")`,
      'sustained: sent on schedule (≥ 95 %), p99 under the bound, every update delivered to every other device, no connection closed',
    ],
  };
  const notes = [
    `load average (1, 5, 15 min) at the start: ${loadAtStart}; at the end: ${readLoad()}`,
    'the clients must stay well below the server in cores for the ceiling to be the server’s: compare the columns',
  ];
  const target = throughputTarget(rows);
  const finished = result.finish(
    [summary, stepsTable],
    notes,
    { rows, rates, stepMs, accountCount, devicesPerAccount },
    target === null ? [] : [target],
  );
  emitResult(finished);
}

function readLoad(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

main().catch((err: unknown) => {
  log(`ceiling: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exitCode = 1;
});
