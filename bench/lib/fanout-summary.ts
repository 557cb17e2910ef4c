/**
 * The figures of the fan-out benchmark: one step's result, the median of runs, the tables
 * (per step, ratios, sustained throughput) and the issue's targets. fanout.ts measures;
 * this file only summarizes.
 */

import { type Cell, fmt, type Table, type Target } from './report.js';
import type { ServerKind } from './servers.js';
import { median } from './stats.js';

/** How a run was set up, for the tables' titles and notes. */
export interface FanoutContext {
  readonly kinds: readonly ServerKind[];
  readonly stepMs: number;
  readonly runs: number;
  readonly cores: number;
  /** A process counts as the limit when it used this share of one core. */
  readonly busyCore: number;
}

/** One setup: A accounts × D devices, awareness off or on, and the rates it steps through. */
export interface Size {
  /** "1000x3", or "1000x3a" with awareness on. */
  readonly key: string;
  readonly accounts: number;
  readonly devices: number;
  readonly awareness: boolean;
  readonly rates: readonly number[];
}

export interface StepResult {
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

export interface StoreFigures {
  readonly commits: number;
  readonly commitMsAvg: number;
  readonly updatesPerCommit: number;
  readonly applied: number;
  readonly notYet: number;
  readonly refused: number;
}

export type StepFigures = Omit<StepResult, 'kind' | 'setup' | 'accounts' | 'devices' | 'run'>;

/** The median of runs of every figure of one (size, server, rate); lost updates are summed. */
export interface Summary extends StepFigures {
  readonly kind: ServerKind;
  readonly runs: number;
}

export function summarize(steps: readonly StepResult[]): Summary {
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
export function sustained(summaries: readonly Summary[]): number | null {
  const ok = summaries.filter((s) => s.p99 < 100 && s.lost === 0);
  return ok.length === 0 ? null : Math.max(...ok.map((s) => s.achievedRate));
}

export const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;

export function tablesFor(
  size: Size,
  steps: readonly StepResult[],
  context: FanoutContext,
): { tables: Table[]; summaries: Summary[] } {
  const { kinds, stepMs, runs, cores, busyCore } = context;
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
      `limit: a process that used ≥ ${busyCore} of a core while sending (Node runs each on one thread); "all cores busy" when the machine had no core to spare, naming which of ours used more (clients or server): there the clients' CPU is as much the limit as the server's.`,
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
export function targetsOf(summaries: Record<string, Summary[]>): Target[] {
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
    } (steps ${[...new Set(at.map((s) => s.rate))].map((r) => fmt.int(r)).join(', ')})`,
    met: mine === null ? false : theirs === null ? true : mine >= 2 * theirs,
  });
  return targets;
}
