/**
 * Pinned fuzz findings: every file in test/fuzz/regressions/ (a failure record written by
 * `pnpm fuzz`) is replayed against the real server through the fuzzer's oracle, and must
 * show no failure. docs/FUZZING.md says how to add one.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { stopAll } from '../helpers/server-process.js';
import { loadHttpCorpus, loadSyncCorpus } from './corpus.js';
import { Fuzzer } from './harness.js';
import { readFailures } from './report.js';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'regressions');

describe('pinned fuzz findings stay fixed', () => {
  let fuzzer: Fuzzer;
  beforeAll(async () => {
    fuzzer = new Fuzzer({ httpCorpus: loadHttpCorpus(), syncCorpus: loadSyncCorpus() });
    await fuzzer.start();
  });
  afterAll(async () => {
    await fuzzer.stop().catch(() => {});
    await stopAll();
  });

  for (const { file, record } of readFailures(DIR)) {
    test(`${path.basename(file, '.json')}: ${record.signature}`, async () => {
      const before = new Set(fuzzer.failures.keys());
      const fixed = await fuzzer.replay(record.input);
      const now = [...fuzzer.failures.keys()].filter((signature) => !before.has(signature));
      assert.equal(fixed, true, `it still fails: ${now.join('; ') || 'a failure seen before'}`);
    });
  }
});
