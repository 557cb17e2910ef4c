/** The fuzzer's figures as a table, and the failing inputs as files a person can replay. */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FailureRecord, Fuzzer } from './harness.js';

/** The failure files at `where` (one file, or every .json in a folder), sorted by name. */
export function readFailures(where: string): Array<{ file: string; record: FailureRecord }> {
  const files = statSync(where).isDirectory()
    ? readdirSync(where)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => path.join(where, name))
    : [where];
  return files.map((file) => ({ file, record: JSON.parse(readFileSync(file, 'utf8')) as FailureRecord }));
}

export function summary(fuzzer: Fuzzer, seed: number): string {
  const rows = (['http', 'sync'] as const).map((target) => {
    const s = fuzzer.stats[target];
    const rate = s.ms === 0 ? 0 : (s.execs * 1000) / s.ms;
    const distinct = fuzzer.distinct.filter((f) => f.target === target).length;
    return [target, String(s.execs), rate.toFixed(1), String(s.crashes), String(distinct)];
  });
  const lines = [
    `badgesync fuzz  seed=${seed}  (replay: BADGESYNC_SEED=${seed})  server restarts: ${fuzzer.restarts}`,
    table(['target', 'executions', 'exec/s', 'crashes', 'distinct failures'], rows),
  ];
  const failures = fuzzer.distinct;
  if (failures.length > 0) {
    lines.push(
      '',
      table(
        ['#', 'target', 'count', 'first at', 'signature'],
        failures.map((f, i) => [String(i + 1), f.target, String(f.count), `#${f.exec}`, f.signature]),
      ),
    );
  } else {
    lines.push('', 'no failures');
  }
  return lines.join('\n');
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** Writes one JSON file per distinct failure (signature, input as base64, detail) into `dir`. */
export function writeFailures(fuzzer: Fuzzer, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return fuzzer.distinct.map((failure, i) => {
    const slug = failure.signature
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .slice(0, 60);
    const file = path.join(dir, `${String(i + 1).padStart(2, '0')}-${slug}.json`);
    writeFileSync(file, `${JSON.stringify(failure, null, 2)}\n`);
    return file;
  });
}
