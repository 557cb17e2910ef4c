import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The default report, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', '../scripts/vitest-summary.mjs'],
    include: ['test/*.test.ts'],
    // Two files at a time: the machines this runs on have two cores.
    maxWorkers: 2,
    // The property and fuzz tests run thousands of cases each; on a loaded machine that takes
    // far longer than vitest's 5 s default.
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
