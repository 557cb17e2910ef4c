/**
 * Test-only hooks (SPEC OPS-5). They are read from the environment only when
 * NODE_ENV=test, are not settings, and `--help` does not list them: production never runs
 * with them.
 */
import { ConfigError } from './config.js';

export interface TestHooks {
  /** Each group commit waits this long, blocking, before it writes (0: off). */
  readonly commitDelayMs: number;
}

export const NO_TEST_HOOKS: TestHooks = { commitDelayMs: 0 };

/**
 * Ten seconds at most: long enough to widen the window between a premature answer and its
 * write far past the time a test needs to `kill -9` the process; longer is a typo.
 */
const MAX_COMMIT_DELAY_MS = 10_000;

export function readTestHooks(env: NodeJS.ProcessEnv): TestHooks {
  if (env.NODE_ENV !== 'test') return NO_TEST_HOOKS;
  const raw = env.BADGESYNC_TEST_COMMIT_DELAY_MS;
  if (raw === undefined || raw === '') return NO_TEST_HOOKS;
  const commitDelayMs = Number(raw);
  if (!Number.isInteger(commitDelayMs) || commitDelayMs < 0 || commitDelayMs > MAX_COMMIT_DELAY_MS) {
    throw new ConfigError(`BADGESYNC_TEST_COMMIT_DELAY_MS must be an integer in 0..${MAX_COMMIT_DELAY_MS}, got ${raw}`);
  }
  return { commitDelayMs };
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms`: the commit is synchronous, so its hold must be too. */
export function blockFor(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}
