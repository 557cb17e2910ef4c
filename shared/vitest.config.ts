import { defineConfig } from 'vitest/config';

/** BADGESYNC_RUNS scales every property's run count (10 for a long soak); the timeout scales with it. */
const runsFactor = Math.max(1, Number(process.env.BADGESYNC_RUNS) || 1);

export default defineConfig({
  test: {
    // The default report, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', '../scripts/vitest-summary.mjs'],
    include: ['test/*.test.ts'],
    // Two files at a time: the machines this runs on have two cores.
    maxWorkers: 2,
    // The property and fuzz tests run thousands of cases each (the fuzz about 35 s on a loaded
    // two-core machine), far beyond vitest's 5 s default.
    testTimeout: 120_000 * runsFactor,
    hookTimeout: 60_000,
  },
});
