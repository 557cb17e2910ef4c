/**
 * Turns a run into the numbers of the issue — per device and overall: the largest interval a
 * badge was wrong, the 99th percentile, the total; devices ending wrong; pushes per device per
 * simulated hour; pushes to online devices — judges them against the promised bound, and
 * prints them.
 */
import {
  apnsAllowanceMs,
  apnsTailMs,
  type Bound,
  CLUSTER_RECONCILE_MS,
  clusterRestartAllowanceMs,
  promisedBound,
  restartAllowanceMs,
  TIMINGS,
} from './config.js';
import type { Interval } from './disagreement.js';
import { CAUSE_LOOKBACK_MS, type ChaosRun, type PushRecord } from './run.js';
import { Timelines } from './timeline.js';

/** Intervals over the bound (and online pushes) given a timeline in the report: the first few. */
const TIMELINES_SHOWN = 6;

export interface JudgedInterval extends Interval {
  /** What it may take: the bound, plus the allowances of the APNs phases (token devices) and restarts it met. */
  readonly allowedMs: number;
  readonly apnsAllowanceMs: number;
  readonly restartAllowanceMs: number;
}

export interface DeviceRow {
  readonly device: string;
  readonly kind: 'ios' | 'web';
  readonly intervals: number;
  /** Largest attributable interval, its 99th percentile, and the raw largest. */
  readonly maxMs: number;
  readonly p99Ms: number;
  readonly maxRawMs: number;
  /** Time wrong in all (union of stretches), and of it excused. */
  readonly totalMs: number;
  readonly totalExcusedMs: number;
  readonly pushes: number;
}

export interface ChaosSummary {
  readonly name: string;
  readonly seed: number;
  readonly devices: number;
  readonly tokenDevices: number;
  readonly accounts: number;
  readonly events: number;
  readonly measuredS: number;
  readonly simulatedHours: number;
  readonly bound: Bound;
  readonly intervals: {
    readonly count: number;
    readonly maxMs: number;
    readonly p99Ms: number;
    readonly maxRawMs: number;
    readonly p99RawMs: number;
    readonly worst: JudgedInterval | null;
    readonly worstRaw: JudgedInterval | null;
    /** Intervals that met no APNs phase and no restart: judged against the bound alone. */
    readonly plain: { readonly count: number; readonly maxMs: number; readonly p99Ms: number };
    /** Intervals that spanned a server outage: their largest and what it was allowed. */
    readonly restarts: { readonly count: number; readonly maxMs: number; readonly allowedMs: number };
    /** Intervals of token devices that met an APNs phase: their largest and what it was allowed. */
    readonly apnsImpaired: { readonly count: number; readonly maxMs: number; readonly allowedMs: number };
  };
  readonly stretches: {
    readonly count: number;
    readonly maxMs: number;
    readonly maxAttributableMs: number;
    readonly totalMs: number;
    readonly totalExcusedMs: number;
  };
  readonly violations: readonly JudgedInterval[];
  readonly pushes: {
    readonly requests: number;
    readonly accepted: number;
    readonly perDeviceHourMean: number;
    readonly perDeviceHourMax: number;
    readonly online: readonly PushRecord[];
    /**
     * Judged online by the test process, but a node had cut that device's connection to one of
     * the push's accounts (its heartbeat timed out) within the lookback: the device was offline
     * for the server; the test process, stalled, had not yet seen the close. Reported, not failed.
     */
    readonly cutByServer: readonly PushRecord[];
    readonly races: number;
    readonly afterSignOut: number;
  };
  readonly perDevice: readonly DeviceRow[];
  readonly run: ChaosRun;
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export function summarize(run: ChaosRun): ChaosSummary {
  const bound = promisedBound();
  const cluster = run.config.nodes > 1;
  const kinds = new Map(run.plan.devices.map((d) => [d.id, d.kind]));
  const windows = run.plan.apnsPhases.map((phase) => ({
    phase,
    from: run.t0 + phase.startMs,
    to: run.t0 + phase.endMs + apnsTailMs(phase),
  }));
  const judged: JudgedInterval[] = run.intervals.map((interval) => {
    const token = kinds.get(interval.device) === 'ios';
    const apns = token
      ? windows
          .filter((w) => w.from <= interval.end && w.to >= interval.start)
          .reduce((sum, w) => sum + apnsAllowanceMs(w.phase), 0)
      : 0;
    // A cluster's kill reaches one reconciliation interval past the restart (a lost last update).
    const reach = cluster ? CLUSTER_RECONCILE_MS : 0;
    const restarts = run.kills.filter(
      (k) => run.t0 + k.at <= interval.end && run.t0 + k.at + k.downMs + reach >= interval.start,
    ).length;
    const restart = restarts * (cluster ? clusterRestartAllowanceMs() : restartAllowanceMs());
    return {
      ...interval,
      apnsAllowanceMs: apns,
      restartAllowanceMs: restart,
      allowedMs: bound.totalMs + apns + restart,
    };
  });
  const violations = judged.filter((i) => i.attributableMs > i.allowedMs);
  const byAttributable = [...judged].sort((a, b) => b.attributableMs - a.attributableMs);
  const byRaw = [...judged].sort((a, b) => b.lengthMs - a.lengthMs);
  const worstOf = (list: JudgedInterval[]) => [...list].sort((a, b) => b.attributableMs - a.attributableMs)[0];
  const impaired = judged.filter((i) => i.apnsAllowanceMs > 0);
  const worstImpaired = worstOf(impaired);
  const restarted = judged.filter((i) => i.restartAllowanceMs > 0);
  const worstRestarted = worstOf(restarted);
  const plain = judged
    .filter((i) => i.apnsAllowanceMs === 0 && i.restartAllowanceMs === 0)
    .map((i) => i.attributableMs);

  const simulatedHours = (run.measuredMs * TIMINGS.simulatedTimeScale) / 3_600_000;
  const pushesOf = new Map<string, number>();
  for (const push of run.pushes) pushesOf.set(push.device, (pushesOf.get(push.device) ?? 0) + 1);
  const perHour = run.tokenDevices.map((d) => (pushesOf.get(d) ?? 0) / simulatedHours);

  const perDevice: DeviceRow[] = run.plan.devices.map((d) => {
    const mine = judged.filter((i) => i.device === d.id);
    const stretches = run.stretches.filter((s) => s.device === d.id);
    return {
      device: d.id,
      kind: d.kind,
      intervals: mine.length,
      maxMs: max(mine.map((i) => i.attributableMs)),
      p99Ms: percentile(
        mine.map((i) => i.attributableMs),
        99,
      ),
      maxRawMs: max(mine.map((i) => i.lengthMs)),
      totalMs: sum(stretches.map((s) => s.lengthMs)),
      totalExcusedMs: sum(stretches.map((s) => s.excusedMs)),
      pushes: pushesOf.get(d.id) ?? 0,
    };
  });

  const closed = closedByServer(run);
  const stale = run.pushes.filter((p) => p.verdict === 'online' && closed(p));
  const online = run.pushes.filter((p) => p.verdict === 'online' && !closed(p));
  const problems: string[] = [];
  if (run.endedWrong.length > 0) problems.push(`${run.endedWrong.length} device(s) ended the run wrong`);
  if (online.length > 0) problems.push(`${online.length} push(es) to online devices`);
  if (violations.length > 0) problems.push(`${violations.length} interval(s) over the promised bound`);
  if (run.truthMismatches.length > 0) problems.push(`${run.truthMismatches.length} truth watcher(s) off at the end`);
  if (run.truthChecks.lagging.length > 0) {
    problems.push(
      `the truth lagged the stored counts ${run.truthChecks.lagging.length} time(s): measurements unreliable`,
    );
  }
  if (run.replicaMismatches.length > 0) problems.push(`${run.replicaMismatches.length} replica(s) off at the end`);
  if (run.kills.length < run.plan.kills.length) problems.push('a server restart did not finish');

  const attributable = judged.map((i) => i.attributableMs);
  const raw = judged.map((i) => i.lengthMs);
  return {
    name: run.config.name,
    seed: run.config.seed,
    devices: run.plan.devices.length,
    tokenDevices: run.tokenDevices.length,
    accounts: run.plan.accounts.length,
    events: run.plan.events.length,
    measuredS: run.measuredMs / 1000,
    simulatedHours,
    bound,
    intervals: {
      count: judged.length,
      maxMs: max(attributable),
      p99Ms: percentile(attributable, 99),
      maxRawMs: max(raw),
      p99RawMs: percentile(raw, 99),
      worst: byAttributable[0] ?? null,
      worstRaw: byRaw[0] ?? null,
      plain: { count: plain.length, maxMs: max(plain), p99Ms: percentile(plain, 99) },
      restarts: {
        count: restarted.length,
        maxMs: worstRestarted?.attributableMs ?? 0,
        allowedMs: worstRestarted?.allowedMs ?? 0,
      },
      apnsImpaired: {
        count: impaired.length,
        maxMs: worstImpaired?.attributableMs ?? 0,
        allowedMs: worstImpaired?.allowedMs ?? 0,
      },
    },
    stretches: {
      count: run.stretches.length,
      maxMs: max(run.stretches.map((s) => s.lengthMs)),
      maxAttributableMs: max(run.stretches.map((s) => s.lengthMs - s.excusedMs)),
      totalMs: sum(run.stretches.map((s) => s.lengthMs)),
      totalExcusedMs: sum(run.stretches.map((s) => s.excusedMs)),
    },
    violations,
    pushes: {
      requests: run.pushes.length,
      accepted: run.pushes.filter((p) => p.status === 200).length,
      perDeviceHourMean: perHour.length === 0 ? 0 : sum(perHour) / perHour.length,
      perDeviceHourMax: max(perHour),
      online,
      cutByServer: stale,
      races: run.pushes.filter((p) => p.verdict === 'race').length,
      afterSignOut: run.pushes.filter((p) => p.verdict === 'after-sign-out').length,
    },
    perDevice,
    run,
    ok: problems.length === 0,
    problems,
  };
}

/** The report, as printed by `pnpm chaos` and the CI test. */
export function formatReport(s: ChaosSummary, options: { readonly devices?: number } = {}): string {
  const ms = (v: number) => `${Math.round(v)} ms`;
  const b = s.bound;
  const lines: string[] = [];
  const run = s.run;
  lines.push(`badgesync chaos (${s.name}) seed=${s.seed}   replay: BADGESYNC_SEED=${s.seed} or --seed ${s.seed}`);
  lines.push(
    `  ${s.devices} devices (${s.tokenDevices} with APNs tokens), ${s.accounts} accounts, ${s.events} planned events, ` +
      `${s.measuredS.toFixed(1)} s measured = ${(s.simulatedHours * 60).toFixed(0)} simulated minutes (×${TIMINGS.simulatedTimeScale})`,
  );
  lines.push(
    `  faults: ${run.kills.map((k) => `kill -9${k.node === null ? '' : ` of ${k.node} (${k.pinned} devices on it)`} at ${(k.at / 1000).toFixed(1)} s (down ${k.downMs} ms, truth resynced ${k.truthResyncMs} ms later)`).join(', ') || 'no kill'}; ` +
      `APNs ${run.plan.apnsPhases.map((p) => `${p.mode}${p.mode === 'slow' ? ` ${p.delayMs} ms` : ''} ${((p.endMs - p.startMs) / 1000).toFixed(1)} s`).join(', ')}`,
  );
  lines.push(
    `  promised bound ${ms(b.totalMs)} = 2.25 × ${TIMINGS.heartbeatMs} heartbeat (${ms(b.heartbeatMs)}) + ` +
      `${b.graceMs} grace + ${b.windowMs} window + 2 × ${TIMINGS.apnsRoundTripMs} APNs round trip`,
  );
  const worst = s.intervals.worst;
  lines.push(
    `  intervals (per disturbance, ${s.intervals.count}): largest ${ms(s.intervals.maxMs)} attributable ` +
      `(bound ${ms(worst?.allowedMs ?? b.totalMs)}), p99 ${ms(s.intervals.p99Ms)}; ` +
      `raw (all a user saw) largest ${ms(s.intervals.maxRawMs)}, p99 ${ms(s.intervals.p99RawMs)}`,
  );
  if (worst !== null) lines.push(`    largest: ${describe(worst, run.t0)}`);
  if (s.intervals.worstRaw !== null && s.intervals.worstRaw !== worst) {
    lines.push(`    largest raw: ${describe(s.intervals.worstRaw, run.t0)}`);
  }
  lines.push(
    `    met no APNs phase and no restart: ${s.intervals.plain.count}, largest ${ms(s.intervals.plain.maxMs)} ` +
      `(bound ${ms(b.totalMs)}), p99 ${ms(s.intervals.plain.p99Ms)}; spanned a restart: ${s.intervals.restarts.count}, ` +
      `largest ${ms(s.intervals.restarts.maxMs)} (allowed ${ms(s.intervals.restarts.allowedMs)}); met an APNs phase: ${s.intervals.apnsImpaired.count}, ` +
      `largest ${ms(s.intervals.apnsImpaired.maxMs)} (allowed ${ms(s.intervals.apnsImpaired.allowedMs)})`,
  );
  lines.push(
    `  wrong stretches (contiguous, ${s.stretches.count}): longest ${ms(s.stretches.maxMs)} ` +
      `(${ms(s.stretches.maxAttributableMs)} not excused); total ${(s.stretches.totalMs / 1000).toFixed(1)} s ` +
      `over all devices, of it ${(s.stretches.totalExcusedMs / 1000).toFixed(1)} s excused (unreachable)`,
  );
  lines.push(
    `  pushes: ${s.pushes.requests} requests (${s.pushes.accepted} accepted); per token device per simulated hour: ` +
      `mean ${s.pushes.perDeviceHourMean.toFixed(1)}, max ${s.pushes.perDeviceHourMax.toFixed(1)}; ` +
      `to online devices: ${s.pushes.online.length} (races within the grace period: ${s.pushes.races}; ` +
      `sign-out pushes to devices online for their other accounts: ${s.pushes.afterSignOut}; ` +
      `to devices whose connection a node had cut, the test process not yet aware: ${s.pushes.cutByServer.length})`,
  );
  for (const push of s.pushes.online.slice(0, 10)) {
    lines.push(
      `    online push: ${push.device} at ${(push.at / 1000).toFixed(3)} s badge ${push.badge} [${push.accounts}]`,
    );
  }
  lines.push(
    `  ended wrong: ${run.endedWrong.length === 0 ? 'none' : run.endedWrong.map((e) => `${e.device} (${e.foreground ? 'fg' : 'bg'}) shows ${e.shown}, truth ${e.truth}`).join('; ')}`,
  );
  for (const line of [...run.truthMismatches, ...run.replicaMismatches].slice(0, 10)) lines.push(`    ${line}`);
  lines.push(
    `  truth checks against GET /badge during the run: ${run.truthChecks.checked}, lagging ${run.truthChecks.lagging.length}` +
      run.truthChecks.lagging
        .slice(0, 5)
        .map((l) => `\n    truth lagged: ${l}`)
        .join(''),
  );
  lines.push(
    `  machine: event-loop delay p99 ${run.eventLoopMs.p99.toFixed(0)} ms, max ${run.eventLoopMs.max.toFixed(0)} ms; ` +
      `APNs answers p50 ${ms(percentile(run.apnsAnswerMs, 50))}, p99 ${ms(percentile(run.apnsAnswerMs, 99))}; ` +
      `ingest ${run.ingest.ok} ok, ${run.ingest.failed} failed; settled in ${ms(run.settleTookMs)}`,
  );
  const longest = (stalls: readonly { at: number; ms: number }[]) =>
    [...stalls]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3)
      .map((st) => `${ms(st.ms)} at ${(st.at / 1000).toFixed(1)} s`)
      .join(', ') || 'none';
  lines.push(
    `  stalls: test process ${run.stalls.process.length} (longest ${longest(run.stalls.process)}); ` +
      `server /healthz over 100 ms ${run.stalls.server.length} (longest ${longest(run.stalls.server)})`,
  );
  if (run.failures.size > 0) {
    lines.push(
      `  calls that failed (counted, expected under faults): ${[...run.failures].map(([w, f]) => `${w} ×${f.count} (${f.example})`).join(', ')}`,
    );
  }
  const rows = [...s.perDevice].sort((a, b) => b.maxMs - a.maxMs).slice(0, options.devices ?? 8);
  lines.push(
    '  worst devices (by largest attributable interval; all of them in --json):',
    `    ${'device'.padEnd(16)} kind  intervals   largest       p99   raw max   total wrong (excused)  pushes`,
  );
  for (const r of rows) {
    const total = `${ms(r.totalMs)} (${ms(r.totalExcusedMs)})`;
    lines.push(
      `    ${r.device.padEnd(16)} ${r.kind.padEnd(5)} ${String(r.intervals).padStart(9)} ${ms(r.maxMs).padStart(9)} ` +
        `${ms(r.p99Ms).padStart(9)} ${ms(r.maxRawMs).padStart(9)}   ${total.padEnd(20)} ${String(r.pushes).padStart(6)}`,
    );
  }
  for (const v of s.violations.slice(0, 10)) lines.push(`  OVER THE BOUND: ${describe(v, run.t0)}`);
  if (run.config.nodes > 1 && (s.violations.length > 0 || s.pushes.online.length > 0)) {
    const timelines = new Timelines(run);
    if (!timelines.traced) lines.push('  (seqs and presence answers need a --trace run)');
    const worst = [...s.violations].sort((a, b) => b.attributableMs - a.attributableMs).slice(0, TIMELINES_SHOWN);
    for (const v of worst) {
      lines.push(
        `  timeline: ${v.device} ${((v.start - run.t0) / 1000).toFixed(3)}–${((v.end - run.t0) / 1000).toFixed(3)} s`,
      );
      for (const line of timelines.explain(v.device, v.start, v.end)) lines.push(`    ${line}`);
    }
    for (const push of s.pushes.online.slice(0, TIMELINES_SHOWN)) {
      lines.push(`  timeline: online push to ${push.device} at ${(push.at / 1000).toFixed(3)} s`);
      for (const line of timelines.explainPush(push)) lines.push(`    ${line}`);
    }
  }
  lines.push(s.ok ? '  PASS' : `  FAIL: ${s.problems.join('; ')}`);
  return lines.join('\n');
}

/** A node cuts a connection whose heartbeats stopped (SYNC-8) and logs it, at info level. */
const CUT_BY_SERVER = 'silent connection terminated';

/**
 * Whether a node cut the device's connection to one of the push's accounts within the lookback
 * before it: the test process, stalled, may still count the device live (its SDK has not seen
 * the close yet), but it was offline for the cluster, and a push is what the design sends then.
 */
function closedByServer(run: ChaosRun): (push: PushRecord) => boolean {
  const cuts: Array<{ at: number; device: unknown; account: unknown }> = [];
  for (const { process } of run.processes) {
    for (const entry of process.logs) {
      if (entry.msg !== CUT_BY_SERVER || typeof entry.time !== 'string') continue;
      cuts.push({ at: Date.parse(entry.time) - run.t0, device: entry.device, account: entry.account });
    }
  }
  return (push) =>
    cuts.some(
      (cut) =>
        cut.device === push.device &&
        push.accounts.includes(cut.account as string) &&
        cut.at <= push.at &&
        cut.at >= push.at - CAUSE_LOOKBACK_MS,
    );
}

function describe(i: JudgedInterval, t0: number): string {
  return (
    `${i.device} from ${((i.start - t0) / 1000).toFixed(3)} s, ${Math.round(i.lengthMs)} ms ` +
    `(${Math.round(i.excusedMs)} excused, ${Math.round(i.attributableMs)} attributable, allowed ${Math.round(i.allowedMs)}), ` +
    `started by ${i.cause} while ${i.stateAtStart}, shown ${i.shownAtStart} vs truth ${i.truthAtStart}, ${i.endedBy}`
  );
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function max(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(m, v), 0);
}

function sum(values: readonly number[]): number {
  return values.reduce((total, v) => total + v, 0);
}
