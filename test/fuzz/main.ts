/**
 * `pnpm fuzz [--minutes N] [--target http|sync|both] [--seed S] [--out DIR]`: fuzzes the real
 * server process (raw HTTP requests and upgrades; sync frames on authenticated sockets) for N
 * minutes (default 2), alternating the two targets in 30-second slices, then prints
 * executions, crashes and distinct failures, and writes each distinct failure's input to DIR
 * (default test/fuzz/failures). The seed is printed first; BADGESYNC_SEED or --seed replays.
 * `pnpm fuzz --replay FILE|DIR` runs recorded failing inputs again and says which still fail.
 * `pnpm fuzz --minimize FILE` drops the earlier inputs (`history`) a sync failure does not
 * need, and writes FILE with `.min.json`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stopAll } from '../helpers/server-process.js';
import { loadHttpCorpus, loadSyncCorpus } from './corpus.js';
import { Fuzzer, type TargetName } from './harness.js';
import { readFailures, summary, writeFailures } from './report.js';

/** Each target gets turns this long, so a short run still covers both and progress shows. */
const SLICE_MS = 30_000;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    target: { type: 'string', default: 'both' },
    seed: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    replay: { type: 'string' },
    minimize: { type: 'string' },
    out: { type: 'string', default: path.join(path.dirname(fileURLToPath(import.meta.url)), 'failures') },
  },
});

if (values.minimize !== undefined) {
  await minimize(values.minimize);
  process.exit();
}

/**
 * Delta debugging over a sync failure's history: removes ever smaller runs of earlier inputs
 * while the replay still shows the same signature.
 */
async function minimize(file: string): Promise<void> {
  const [found] = readFailures(file);
  if (found === undefined) throw new Error(`no failure in ${file}`);
  const { record } = found;
  const fuzzer = new Fuzzer({ httpCorpus: loadHttpCorpus(), syncCorpus: loadSyncCorpus() });
  let history = [...(record.input.history ?? [])];
  let replays = 0;
  const reproduces = async (candidate: typeof history) => {
    replays++;
    const seen = await fuzzer.replaySignatures({ ...record.input, history: candidate });
    return seen?.includes(record.signature) ?? false;
  };
  try {
    await fuzzer.start();
    if (!(await reproduces(history))) {
      throw new Error(`${file} does not reproduce (${[...fuzzer.failures.keys()].join('; ')}): nothing to minimize`);
    }
    for (let chunk = Math.ceil(history.length / 2); chunk >= 1 && history.length > 0; ) {
      let removed = false;
      for (let start = 0; start < history.length; ) {
        const candidate = [...history.slice(0, start), ...history.slice(start + chunk)];
        if (await reproduces(candidate)) {
          history = candidate;
          removed = true;
        } else start += chunk;
      }
      console.log(`history ${history.length} (runs of ${chunk}, ${replays} replays)`);
      if (!removed) chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2);
    }
  } finally {
    await fuzzer.stop().catch(() => {});
    await stopAll();
  }
  const out = file.replace(/\.json$/, '.min.json');
  writeFileSync(out, `${JSON.stringify({ ...record, input: { ...record.input, history } }, null, 2)}\n`);
  console.log(`${out}: ${history.length} earlier inputs kept (${replays} replays)`);
}

if (values.replay !== undefined) {
  process.exitCode = await replay(values.replay);
  process.exit();
}

/** Replays each failure file; exit code 1 when any still fails. */
async function replay(where: string): Promise<number> {
  const records = readFailures(where);
  const fuzzer = new Fuzzer({ httpCorpus: loadHttpCorpus(), syncCorpus: loadSyncCorpus() });
  let failing = 0;
  try {
    await fuzzer.start();
    for (const { file, record } of records) {
      const fixed = await fuzzer.replay(record.input);
      if (fixed === false) failing++;
      const verdict = fixed === null ? 'no input' : fixed ? 'fixed' : 'STILL FAILS';
      console.log(`${verdict.padEnd(11)}  ${path.basename(file)}  ${record.signature}`);
    }
  } finally {
    await fuzzer.stop().catch(() => {});
    await stopAll();
  }
  for (const failure of fuzzer.distinct) console.log(`  now: ${failure.signature}`);
  return failing > 0 ? 1 : 0;
}

const minutes = Number(values.minutes);
if (!(minutes > 0)) throw new Error('--minutes must be a positive number');
const seed = Number(values.seed ?? process.env.BADGESYNC_SEED ?? Math.floor(Math.random() * 2 ** 31));
if (!Number.isSafeInteger(seed)) throw new Error('the seed must be an integer');
const targets: TargetName[] = values.target === 'both' ? ['http', 'sync'] : [values.target as TargetName];
if (!targets.every((t) => t === 'http' || t === 'sync')) throw new Error('--target is http, sync or both');

console.log(`badgesync fuzz: ${minutes} min, targets ${targets.join('+')}, seed=${seed}`);
const fuzzer = new Fuzzer({
  httpCorpus: loadHttpCorpus(),
  syncCorpus: loadSyncCorpus(),
  print: (line) => console.log(line),
});
try {
  await fuzzer.start();
  const deadline = Date.now() + minutes * 60_000;
  for (let slice = 0; Date.now() < deadline; slice++) {
    const target = targets[slice % targets.length] as TargetName;
    const budget = Math.min(SLICE_MS, deadline - Date.now());
    // Each slice draws from its own seed, derived from the run's, so a replay takes the same path.
    if (target === 'http') await fuzzer.fuzzHttp(seed + slice, budget);
    else await fuzzer.fuzzSync(seed + slice, budget);
    const s = fuzzer.stats;
    console.log(
      `… ${Math.round((deadline - Date.now()) / 1000)} s left: http ${s.http.execs}, sync ${s.sync.execs}, distinct failures ${fuzzer.failures.size}`,
    );
  }
} finally {
  await fuzzer.stop().catch(() => {});
  await stopAll();
}
if (values.verbose) {
  console.log('\noutcomes seen (how often):');
  for (const [key, count] of [...fuzzer.outcomes].sort((a, b) => b[1] - a[1]))
    console.log(`${String(count).padStart(8)}  ${key}`);
}
console.log(`\n${summary(fuzzer, seed)}`);
if (fuzzer.failures.size > 0) {
  const files = writeFailures(fuzzer, values.out);
  console.log(`\nfailing inputs: ${files.length} files in ${values.out}`);
}
process.exitCode = fuzzer.failures.size > 0 ? 1 : 0;
