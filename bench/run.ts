/**
 * `pnpm bench` (quick, a few minutes) and `pnpm bench --full`: runs every measurement
 * script as a child process, one after another (they would disturb each other's figures),
 * gathers their JSON results, prints one markdown report, and writes
 * bench/results/<name>.json, bench/results/latest.md and bench/results/latest-<mode>.md.
 *
 *   pnpm bench [--full] [--only fanout,memory]
 *
 * A script takes `--quick` in quick mode and writes its JSON to $BENCH_RESULT_FILE (see
 * lib/report.ts); one that writes none is reported by its stdout.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { listOption } from './lib/args.js';
import { BENCH_DIR, spawnScript } from './lib/children.js';
import { machineInfo } from './lib/proc.js';
import { type BenchResult, fmt, renderResult, type Target, targetsTable } from './lib/report.js';

/** In this order: the slow, machine-filling fan-out and ceiling first, while the machine is coolest. */
const SCRIPTS = ['fanout', 'ceiling', 'push', 'memory', 'cold', 'counts', 'budgets', 'doc-layout', 'cluster'] as const;

const full = process.argv.includes('--full');
const mode = full ? 'full' : 'quick';
const only = listOption('only', SCRIPTS);
const resultsDir = path.join(BENCH_DIR, 'results');

interface Outcome {
  readonly name: string;
  readonly code: number | null;
  readonly ms: number;
  readonly result: BenchResult | null;
  readonly stdout: string;
}

async function runScript(name: string): Promise<Outcome> {
  const file = path.join(resultsDir, `.${name}.tmp.json`);
  rmSync(file, { force: true });
  const began = performance.now();
  process.stderr.write(`\n▶ ${name}.ts${full ? '' : ' --quick'}\n`);
  const child = spawnScript(`${name}.ts`, {
    args: full ? [] : ['--quick'],
    env: { BENCH_RESULT_FILE: file },
    inheritStderr: true,
  });
  let stdout = '';
  child.process.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const code = await child.exited;
  const ms = performance.now() - began;
  let result: BenchResult | null = null;
  if (existsSync(file)) {
    result = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
    rmSync(file, { force: true });
    writeFileSync(path.join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  }
  process.stderr.write(`◀ ${name}.ts: exit ${code}, ${fmt.int(ms / 1000)} s\n`);
  return { name, code, ms, result, stdout };
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

const loadAtStart = loadAverage();

function report(outcomes: readonly Outcome[], totalMs: number): string {
  const machine = machineInfo();
  const lines = [
    `# badgesync benchmarks (${mode})`,
    '',
    `- command: \`pnpm bench${full ? ' --full' : ''}\` — ${new Date().toISOString()}, ${fmt.int(totalMs / 1000)} s in all`,
    `- machine: ${machine.cpu}, ${machine.cores} cores, ${fmt.bytes(machine.memoryBytes)} memory, Linux ${machine.kernel}, Node ${machine.node}`,
    `- load average (1, 5, 15 min) at the start: ${loadAtStart}; at the end: ${loadAverage()} — other work on the machine shows as "other cores" in the fan-out tables`,
    '- every comparison in a table was measured in the same run, on this machine, with the same clients; clients run in processes of their own',
    '',
  ];
  const targets: Target[] = outcomes.flatMap((o) => o.result?.targets ?? []);
  if (targets.length > 0) lines.push('## Targets', '', targetsTable(targets), '');
  for (const outcome of outcomes) {
    if (outcome.result !== null) {
      lines.push(renderResult({ ...outcome.result, targets: [] }));
    } else {
      lines.push(`## ${outcome.name}`, '', outcome.stdout.trim() === '' ? '(no output)' : outcome.stdout.trim(), '');
    }
    if (outcome.code !== 0)
      lines.push(`**${outcome.name}.ts failed (exit ${outcome.code}); see its output above.**`, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

async function main(): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  const began = performance.now();
  const outcomes: Outcome[] = [];
  for (const name of SCRIPTS) {
    if (!only.includes(name)) continue;
    if (!existsSync(path.join(BENCH_DIR, `${name}.ts`))) {
      process.stderr.write(`(skipping ${name}.ts: not there)\n`);
      continue;
    }
    outcomes.push(await runScript(name));
  }
  const markdown = report(outcomes, performance.now() - began);
  process.stdout.write(`\n${markdown}`);
  writeFileSync(path.join(resultsDir, 'latest.md'), markdown);
  writeFileSync(path.join(resultsDir, `latest-${mode}.md`), markdown);
  process.stderr.write(`\nwritten: bench/results/latest.md, bench/results/latest-${mode}.md and one JSON per script\n`);
  if (outcomes.some((o) => o.code !== 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
