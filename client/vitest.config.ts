import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The default report, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', '../scripts/vitest-summary.mjs'],
    include: ['test/*.test.ts'],
    // Two files at a time: the machines this runs on have two cores.
    maxWorkers: 2,
    // Unit tests on fake clocks and in-memory sockets; the margin is for a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
