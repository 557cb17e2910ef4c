/**
 * Seeds for property and fuzz tests. Every run prints its seed; a failure also prints the
 * path fast-check reports. Replay with BADGESYNC_SEED=<seed> (and BADGESYNC_PATH=<path> to go
 * straight to the shrunk counterexample). BADGESYNC_RUNS scales every run count (e.g. 10 for a
 * long soak, 0.1 for a smoke run).
 */
import type * as fc from 'fast-check';

function envNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${JSON.stringify(text)}`);
  return value;
}

/** fast-check parameters for one property: a printed seed, and the run count scaled by BADGESYNC_RUNS. */
export function propertyParams<T>(name: string, defaultRuns: number): fc.Parameters<T> {
  const seed = envNumber('BADGESYNC_SEED') ?? Math.floor(Math.random() * 2 ** 31);
  const numRuns = Math.max(1, Math.round(defaultRuns * (envNumber('BADGESYNC_RUNS') ?? 1)));
  const path = process.env.BADGESYNC_PATH;
  console.log(
    `[${name}] seed=${seed} numRuns=${numRuns}${path ? ` path=${path}` : ''} (replay: BADGESYNC_SEED=${seed})`,
  );
  return path ? { seed, numRuns, path } : { seed, numRuns };
}
