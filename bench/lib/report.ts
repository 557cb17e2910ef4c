/**
 * The result every measurement script hands to run.ts: tables (rendered as markdown) and
 * the raw figures, as JSON. A script run alone prints its markdown and writes
 * bench/results/<name>.json; under run.ts it writes the JSON where BENCH_RESULT_FILE says.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BENCH_DIR } from './children.js';
import { type MachineInfo, machineInfo } from './proc.js';
import { formatTable } from './table.js';

export type Cell = string | number | null;

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<Readonly<Record<string, Cell>>>;
  /** Sentences printed under the table. */
  readonly notes?: readonly string[];
}

/** One target of the issue and where this run stands. */
export interface Target {
  readonly target: string;
  readonly measured: string;
  /** null: not measured in this mode, or not comparable. */
  readonly met: boolean | null;
}

export interface BenchResult {
  readonly name: string;
  readonly title: string;
  readonly mode: 'quick' | 'full';
  readonly startedAt: string;
  readonly durationMs: number;
  readonly machine: MachineInfo;
  readonly tables: readonly Table[];
  readonly notes: readonly string[];
  /** Every figure behind the tables, for whoever wants to compare runs. */
  readonly data: unknown;
  /** Targets this script measures (run.ts gathers them into one table). */
  readonly targets?: readonly Target[];
}

/** `--quick` on the command line (run.ts passes it in quick mode). */
export function isQuick(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--quick');
}

/** The targets as a table: target, measured, met (yes / NO / —). */
export function targetsTable(targets: readonly Target[]): string {
  return formatTable(
    targets.map((t) => ({ target: t.target, measured: t.measured, met: t.met === null ? '—' : t.met ? 'yes' : 'NO' })),
    ['target', 'measured', 'met'],
  );
}

export function renderResult(result: BenchResult): string {
  const parts = [`## ${result.title}`, ''];
  if ((result.targets ?? []).length > 0) parts.push(targetsTable(result.targets ?? []), '');
  for (const table of result.tables) {
    parts.push(`### ${table.title}`, '', formatTable(table.rows, table.columns), '');
    for (const note of table.notes ?? []) parts.push(`- ${note}`);
    if ((table.notes ?? []).length > 0) parts.push('');
  }
  for (const note of result.notes) parts.push(`- ${note}`);
  if (result.notes.length > 0) parts.push('');
  return parts.join('\n');
}

/** Prints the markdown and writes the JSON (BENCH_RESULT_FILE, or bench/results/<name>.json). */
export function emitResult(result: BenchResult): void {
  process.stdout.write(`${renderResult(result)}\n`);
  const file = process.env.BENCH_RESULT_FILE ?? path.join(BENCH_DIR, 'results', `${result.name}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
}

/** Starts a result: call `finish` with the tables when done. */
export function beginResult(name: string, title: string) {
  const startedAt = new Date();
  const began = performance.now();
  const mode: 'quick' | 'full' = isQuick() ? 'quick' : 'full';
  return {
    mode,
    finish(
      tables: readonly Table[],
      notes: readonly string[],
      data: unknown,
      targets: readonly Target[] = [],
    ): BenchResult {
      return {
        targets,
        name,
        title,
        mode,
        startedAt: startedAt.toISOString(),
        durationMs: performance.now() - began,
        machine: machineInfo(),
        tables,
        notes,
        data,
      };
    },
  };
}

/** Number formatting for table cells. */
export const fmt = {
  /** 1234.5 → "1,235" */
  int: (n: number | null | undefined): string | null =>
    n === null || n === undefined || !Number.isFinite(n) ? null : Math.round(n).toLocaleString('en'),
  /** Fixed decimals. */
  fixed: (n: number | null | undefined, digits: number): string | null =>
    n === null || n === undefined || !Number.isFinite(n) ? null : n.toFixed(digits),
  /** A ratio "1.23×". */
  ratio: (n: number | null | undefined): string | null =>
    n === null || n === undefined || !Number.isFinite(n) ? null : `${n.toFixed(2)}×`,
  /** Bytes as KB / MB / GB (powers of 1024). */
  bytes: (n: number | null | undefined): string | null => {
    if (n === null || n === undefined || !Number.isFinite(n)) return null;
    const abs = Math.abs(n);
    if (abs >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GB`;
    if (abs >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MB`;
    if (abs >= 1024) return `${(n / 1024).toFixed(1)} KB`;
    return `${Math.round(n)} B`;
  },
  /** Milliseconds with sensible precision. */
  ms: (n: number | null | undefined): string | null => {
    if (n === null || n === undefined || !Number.isFinite(n)) return null;
    if (n >= 100) return n.toFixed(0);
    if (n >= 10) return n.toFixed(1);
    return n.toFixed(2);
  },
};
