/**
 * The CI fuzz job: a bounded run of the fuzzer against the real server process (about 25 s
 * of HTTP and 25 s of sync inputs), asserting that no input found a failure — no crash, no
 * hang, no 5xx, no close code outside the contract, no error logged, /healthz always 200,
 * the bystander of another account served and its badge right. Each run draws a fresh seed
 * and prints it; BADGESYNC_SEED replays. `pnpm fuzz --minutes N` runs longer.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { stopAll } from '../helpers/server-process.js';
import { loadHttpCorpus, loadSyncCorpus } from './corpus.js';
import { type FailureRecord, Fuzzer, type TargetName } from './harness.js';
import { summary } from './report.js';

/**
 * Per target. Long enough for thousands of inputs (the recorded crashes were found within a
 * few hundred), short enough that the whole suite's fuzzing stays near a minute.
 */
const BUDGET_MS = 25_000;
const seed = Number(process.env.BADGESYNC_SEED ?? Math.floor(Math.random() * 2 ** 31));

function describeFailures(failures: readonly FailureRecord[]): string {
  return failures
    .map(
      (f) => `- ${f.signature} (×${f.count}, first at #${f.exec}, seed ${f.seed})\n  input: ${JSON.stringify(f.input)}`,
    )
    .join('\n');
}

function assertNone(fuzzer: Fuzzer, target: TargetName): void {
  const failures = fuzzer.distinct.filter((f) => f.target === target);
  assert.equal(failures.length, 0, `${failures.length} distinct failures:\n${describeFailures(failures)}`);
}

describe('fuzzing the real server', () => {
  const fuzzer = new Fuzzer({ httpCorpus: loadHttpCorpus(), syncCorpus: loadSyncCorpus() });
  beforeAll(async () => {
    console.log(`[fuzz] seed=${seed} (replay: BADGESYNC_SEED=${seed})`);
    await fuzzer.start();
  });
  afterAll(async () => {
    console.log(summary(fuzzer, seed));
    await fuzzer.stop().catch(() => {});
    await stopAll();
  });

  test('raw HTTP requests and upgrades, with and without credentials: only answers below 500, the server lives on', async () => {
    await fuzzer.fuzzHttp(seed, BUDGET_MS);
    assert.ok(fuzzer.stats.http.execs >= 100, `only ${fuzzer.stats.http.execs} inputs ran`);
    assertNone(fuzzer, 'http');
  });

  test('sync frames and Yjs updates on authenticated sockets: only contract close codes, the bystander unharmed', async () => {
    await fuzzer.fuzzSync(seed + 1, BUDGET_MS);
    assert.ok(fuzzer.stats.sync.execs >= 100, `only ${fuzzer.stats.sync.execs} inputs ran`);
    assertNone(fuzzer, 'sync');
  });
});
