/**
 * `pnpm test`: every package's suite, one package after another in dependency order (each
 * starts real servers; together they would load the machine), then one closing line with the
 * sum of every package's counts, `tests: N passed, N failed, N skipped`. A failing package does
 * not stop the ones after it (`--no-bail`), so one run shows every failure; the run exits non-zero
 * when any package failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const dir = mkdtempSync(path.join(tmpdir(), 'badgesync-tests-'));
const totalsFile = path.join(dir, 'totals.jsonl');
const run = spawnSync('pnpm', ['-r', '--workspace-concurrency=1', '--no-bail', '--if-present', 'run', 'test'], {
  stdio: 'inherit',
  env: { ...process.env, BADGESYNC_TEST_TOTALS: totalsFile },
});
const sum = { passed: 0, failed: 0, skipped: 0 };
let text = '';
try {
  text = readFileSync(totalsFile, 'utf8');
} catch {
  // No package reported: the run stopped before any suite ended (counted as a failure below).
}
rmSync(dir, { recursive: true, force: true });
for (const line of text.split('\n')) {
  if (line.trim() === '') continue;
  const counts = JSON.parse(line);
  sum.passed += counts.passed;
  sum.failed += counts.failed;
  sum.skipped += counts.skipped;
}
const code = run.status ?? 1;
if (code !== 0 && sum.failed === 0) sum.failed = 1;
process.stdout.write(`\ntests: ${sum.passed} passed, ${sum.failed} failed, ${sum.skipped} skipped\n`);
process.exit(code);
