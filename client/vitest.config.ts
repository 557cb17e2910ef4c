import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/*.test.ts'],
    // Two files at a time: the machines this runs on have two cores.
    maxWorkers: 2,
    // Unit tests on fake clocks and in-memory sockets; the margin is for a loaded machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
