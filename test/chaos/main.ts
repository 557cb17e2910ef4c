/**
 * `pnpm chaos [--long] [--cluster] [--trace] [--seed N] [--persons N] [--duration S] [--json FILE] [--logs FILE]`
 *
 * Runs one chaos simulation (quick by default, `--long` for hundreds of devices, `--cluster`
 * over three nodes of one cluster on the local PostgreSQL and Redis), prints the
 * report and exits 0 when it passed, 1 when it did not. The seed comes from `--seed`, else
 * BADGESYNC_SEED, else a fresh one; it is printed first, so any run can be replayed.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { stopAll } from '../helpers/server-process.js';
import { CLUSTER_NODES, longConfig, quickConfig } from './config.js';
import { freshSeed } from './random.js';
import { formatReport, summarize } from './report.js';
import { runChaos } from './run.js';

const { values } = parseArgs({
  options: {
    long: { type: 'boolean', default: false },
    cluster: { type: 'boolean', default: false },
    seed: { type: 'string' },
    persons: { type: 'string' },
    duration: { type: 'string' },
    json: { type: 'string' },
    logs: { type: 'string' },
    trace: { type: 'boolean', default: false },
  },
});

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    console.error(`--${name} needs a number, got ${value}`);
    process.exit(2);
  }
  return n;
}

const seed = numberOption('seed', values.seed ?? process.env.BADGESYNC_SEED) ?? freshSeed();
const persons = numberOption('persons', values.persons);
const duration = numberOption('duration', values.duration);
const overrides = {
  ...(persons === undefined ? {} : { persons }),
  ...(duration === undefined ? {} : { durationMs: duration * 1000 }),
};
const base = values.long ? longConfig(seed, overrides) : quickConfig(seed, overrides);
const config = values.cluster ? { ...base, name: `${base.name}, cluster`, nodes: CLUSTER_NODES } : base;

// Interrupted (or stdout closed): the run stops and cleans up as after any failure; a second
// signal leaves at once. Whatever ends this process, stopAll sends SIGKILL to every server it
// started before its first await, so none outlives it.
const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupt.signal.aborted) process.exit(130);
    console.error(`\n${signal}: stopping (seed=${seed})`);
    interrupt.abort(new Error(`interrupted by ${signal}`));
  });
}
process.stdout.on('error', () => interrupt.abort(new Error('stdout closed')));
process.on('exit', () => void stopAll());

console.log(`badgesync chaos (${config.name}) seed=${seed}`);
const started = Date.now();
try {
  const run = await runChaos(config, {
    log: (line) => console.log(line),
    signal: interrupt.signal,
    trace: values.trace,
  });
  const summary = summarize(run);
  console.log(formatReport(summary, { devices: values.long ? 12 : 8 }));
  console.log(`  (${((Date.now() - started) / 1000).toFixed(0)} s wall)`);
  if (values.json !== undefined) {
    const { run: _run, ...rest } = summary;
    const detail = { t0: run.t0, kills: run.kills, intervals: run.intervals, pushes: run.pushes, plan: run.plan };
    await writeFile(values.json, JSON.stringify({ ...rest, ...detail }, null, 2));
  }
  if (values.logs !== undefined) {
    const lines = run.processes.flatMap(({ name, process }) => [
      ...process.logs.map((entry) => JSON.stringify({ node: name, ...entry })),
      ...(process.stderr === '' ? [] : [JSON.stringify({ node: name, stderr: process.stderr })]),
    ]);
    await writeFile(values.logs, `${lines.join('\n')}\n`);
  }
  process.exitCode = summary.ok ? 0 : 1;
} catch (err) {
  if (interrupt.signal.aborted) process.exitCode = 130;
  else {
    console.error(`chaos run failed (seed=${seed}): ${(err as Error)?.stack ?? err}`);
    process.exitCode = 1;
  }
}
