import { defineConfig } from 'vitest/config';

/** BADGESYNC_RUNS scales every property's run count (10 for a long soak); the timeout scales with it. */
const runsFactor = Math.max(1, Number(process.env.BADGESYNC_RUNS) || 1);

export default defineConfig({
  test: {
    // The default report, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', '../scripts/vitest-summary.mjs'],
    include: ['test/*.test.ts'],
    // Two files at a time: the machines this runs on have two cores, and some files spawn child
    // processes (kill -9 durability, the APNs child sender) or fsync SQLite files.
    maxWorkers: 2,
    // Stores fsync every commit and some tests start child processes: a loaded machine needs
    // far more than vitest's 5 s default. Tests that need longer say so themselves.
    testTimeout: 120_000 * runsFactor,
    hookTimeout: 60_000,
  },
});
