/**
 * CPU per group commit on the server's path (SPEC STORE-17): GroupCommit over SqliteStore and
 * its commit thread, one small update and one changed thread of counts per account per batch,
 * `--per-batch` accounts per batch, one batch after another (as at a low rate, where nearly
 * every update pays a commit of its own). Reports CPU time per commit, split per thread
 * (/proc/self/task: the event loop, the commit thread, V8's helper threads) into user and
 * kernel, and the median of RUNS runs. Wall time is left out: on a shared machine, CPU per
 * commit is the figure that holds still.
 *
 *   node --import tsx bench/commit-cpu.ts [--commits N] [--per-batch N]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AccountId, parseAccountId } from '@badgesync/shared';
import { Metrics } from '../server/src/metrics.js';
import { GroupCommit } from '../server/src/rooms/group-commit.js';
import { asyncStore, SqliteStore } from '../server/src/store/index.js';
import { numberOption } from './lib/args.js';
import { markerUpdates } from './lib/marker-updates.js';

const COMMITS = numberOption('commits', 2_000);
const PER_BATCH = numberOption('per-batch', 1);
/** Commits before measuring: the thread boots, statements and file pages settle. */
const WARMUP = 200;
const RUNS = 3;
const CLOCK_TICKS = 100;

interface ThreadCpu {
  readonly name: string;
  readonly user: number;
  readonly system: number;
}

function threads(): Map<string, ThreadCpu> {
  const out = new Map<string, ThreadCpu>();
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(tid, { name, user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS });
  }
  return out;
}

const accounts: AccountId[] = Array.from({ length: 1_000 }, (_, i) => parseAccountId(`bench-${i}`));

async function run(dir: string, updates: readonly Uint8Array[]): Promise<Map<string, number[]>> {
  const store = asyncStore(new SqliteStore(join(dir, `cpu-${Math.random().toString(36).slice(2)}.db`)));
  const commit = new GroupCommit(store, new Metrics(), (err) => {
    throw err;
  });
  let next = 0;
  const oneBatch = (): Promise<void> => {
    for (let a = 0; a < PER_BATCH; a++) {
      const i = next++;
      const account = accounts[i % accounts.length] as AccountId;
      commit.addUpdate(account, updates[i % updates.length] as Uint8Array);
      commit.markCounts(account, () => ({
        counts: { badge: i % 7, threads: { inbox: i % 7 }, muted: [] },
        changed: ['inbox'],
      }));
    }
    return commit.flushed();
  };
  for (let i = 0; i < WARMUP; i++) await oneBatch();
  const before = threads();
  for (let i = 0; i < COMMITS; i++) await oneBatch();
  const after = threads();
  await commit.close();
  await store.close();
  const perCommit = new Map<string, number[]>();
  const add = (key: string, seconds: number) => perCommit.set(key, [...(perCommit.get(key) ?? []), seconds]);
  const used = [...after].map(([tid, end]) => {
    const start = before.get(tid) ?? { name: end.name, user: 0, system: 0 };
    return {
      tid,
      user: ((end.user - start.user) * 1e6) / COMMITS,
      system: ((end.system - start.system) * 1e6) / COMMITS,
    };
  });
  // The commit thread: the busiest thread but the event loop.
  const others = used
    .filter((t) => t.tid !== String(process.pid))
    .sort((a, b) => b.user + b.system - (a.user + a.system));
  const commitTid = others[0]?.tid;
  for (const t of used) {
    const name = t.tid === String(process.pid) ? 'event loop' : t.tid === commitTid ? 'commit thread' : 'other threads';
    add(`${name} user`, t.user);
    add(`${name} kernel`, t.system);
    add('total', t.user + t.system);
  }
  // Sum the entries of one name: several threads share "node" (V8's helpers, libuv's pool).
  const summed = new Map<string, number[]>();
  for (const [key, values] of perCommit) summed.set(key, [values.reduce((s, v) => s + v, 0)]);
  return summed;
}

const dir = mkdtempSync(join(tmpdir(), 'badgesync-bench-'));
try {
  const updates = markerUpdates(1_000);
  const results: Array<Map<string, number[]>> = [];
  for (let r = 0; r < RUNS; r++) results.push(await run(dir, updates));
  const keys = [...new Set(results.flatMap((m) => [...m.keys()]))].sort();
  console.log(`commit CPU, ${COMMITS} commits of ${PER_BATCH} update(s) + counts, median of ${RUNS} runs (µs/commit)`);
  for (const key of keys) {
    const values = results.map((m) => m.get(key)?.[0] ?? 0).sort((a, b) => a - b);
    console.log(`${key.padEnd(28)} ${(values[Math.floor(values.length / 2)] as number).toFixed(1).padStart(8)}`);
  }
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
