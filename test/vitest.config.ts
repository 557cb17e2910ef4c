import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // The default report, then one plain `vitest: N passed, N failed, N skipped` line.
    reporters: ['default', '../scripts/vitest-summary.mjs'],
    include: ['e2e/*.test.ts', 'chaos/*.test.ts', 'fuzz/*.test.ts'],
    // One file at a time: each starts real server processes, and the chaos test's latency bound
    // has little slack when another file loads the machine.
    fileParallelism: false,
    maxWorkers: 1,
    // Real server processes, real SQLite files, headless Chromium and waits for pushes with
    // retries: generous, so a loaded machine is slow rather than red. The chaos run sets its own.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
