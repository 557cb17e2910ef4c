import { appendFileSync } from 'node:fs';

/**
 * A vitest reporter that ends a run with one plain line, `vitest: N passed, N failed, N skipped`,
 * after the default reporter's summary: CI reads a run's closing line for its test count.
 */
export default class PlainSummary {
  /**
   * @param {ReadonlyArray<import('vitest/node').TestModule>} testModules
   * @param {ReadonlyArray<unknown>} unhandledErrors
   */
  onTestRunEnd(testModules, unhandledErrors) {
    const counts = { passed: 0, failed: 0, skipped: 0 };
    for (const module of testModules) {
      const before = counts.failed;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') counts.failed++;
        else counts.skipped++;
      }
      // A file that failed outside any test (an import error, a failing hook) counts once.
      if (module.state() === 'failed' && counts.failed === before) counts.failed++;
    }
    counts.failed += unhandledErrors.length;
    process.stdout.write(`\nvitest: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
    // Under `pnpm test` (scripts/test-all.mjs) each package's counts are added up for one total.
    const totals = process.env.BADGESYNC_TEST_TOTALS;
    if (totals) appendFileSync(totals, `${JSON.stringify(counts)}\n`);
  }
}
