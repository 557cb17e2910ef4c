/**
 * SQLite commit cost per update at synchronous=FULL: one update per transaction (the
 * baseline) against group commit of 100 updates per transaction, through SqliteStore; each
 * size on the event loop (commit) and on the commit thread (commitAsync, one batch in flight,
 * SPEC STORE-17). "loop µs/update" is what the event loop itself spent: all of it for commit,
 * which blocks; its active time (event-loop utilization) for commitAsync, which waits idle.
 *
 *   node --import tsx bench/store-commit.ts
 *
 * The updates are real small Yjs updates (one read marker each, ~30 bytes) spread over ten
 * accounts, as a busy server's event-loop turn would hold them. Each case runs on a fresh
 * file in the OS temp dir; the median of RUNS runs is reported.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type AccountId, parseAccountId } from '@badgesync/shared';
import { SqliteStore, type WriteBatch } from '../server/src/store/index.js';
import { markerUpdates } from './lib/marker-updates.js';

/**
 * Transactions per measured run, whatever their size: enough fsyncs, and enough WAL
 * checkpoints (one per ~1000 pages written), that one slow one does not decide the result.
 */
const TRANSACTIONS_PER_RUN = 500;
/** Transactions before measuring, so file growth and statement caches settle first. */
const WARMUP_TRANSACTIONS = 50;
const RUNS = 3;
const BATCH_SIZES = [1, 100] as const;

const accounts: AccountId[] = Array.from({ length: 10 }, (_, i) => parseAccountId(`bench-${i}`));

function batches(updates: readonly Uint8Array[], size: number): WriteBatch[] {
  const out: WriteBatch[] = [];
  for (let i = 0; i < updates.length; i += size) {
    out.push({
      updates: updates
        .slice(i, i + size)
        .map((update, j) => ({ account: accounts[(i + j) % accounts.length]!, update })),
      counts: [],
      bindings: [],
      idempotency: [],
    });
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Measured {
  /** Wall time per update, µs. */
  readonly perUpdate: number;
  /** Event-loop time per update, µs. */
  readonly loopPerUpdate: number;
}

/** Per update, committing `updates` in transactions of `size`, on the loop or the commit thread. */
async function measure(dir: string, size: number, updates: readonly Uint8Array[], thread: boolean): Promise<Measured> {
  const store = new SqliteStore(join(dir, `commit-${size}-${Math.random().toString(36).slice(2)}.db`));
  const commit = async (batch: WriteBatch) => (thread ? store.commitAsync(batch) : store.commit(batch));
  try {
    const warmup = WARMUP_TRANSACTIONS * size;
    for (const batch of batches(updates.slice(0, warmup), size)) await commit(batch);
    const work = batches(updates.slice(warmup, warmup + TRANSACTIONS_PER_RUN * size), size);
    const elu = performance.eventLoopUtilization();
    const start = performance.now();
    for (const batch of work) await commit(batch);
    const wall = performance.now() - start;
    const loop = thread ? performance.eventLoopUtilization(elu).active : wall;
    const count = TRANSACTIONS_PER_RUN * size;
    return { perUpdate: (wall * 1000) / count, loopPerUpdate: (loop * 1000) / count };
  } finally {
    store.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'badgesync-bench-'));
try {
  const updates = markerUpdates((WARMUP_TRANSACTIONS + TRANSACTIONS_PER_RUN) * Math.max(...BATCH_SIZES));
  const bytes = updates.reduce((sum, u) => sum + u.byteLength, 0) / updates.length;
  console.log(
    `store commit, synchronous=FULL, ${TRANSACTIONS_PER_RUN} transactions per run, ` +
      `updates of ~${bytes.toFixed(0)} B, median of ${RUNS} runs`,
  );
  const results: Array<{ size: number; where: string } & Measured> = [];
  for (const thread of [false, true]) {
    for (const size of BATCH_SIZES) {
      const runs: Measured[] = [];
      for (let run = 0; run < RUNS; run++) runs.push(await measure(dir, size, updates, thread));
      results.push({
        size,
        where: thread ? 'thread' : 'loop',
        perUpdate: median(runs.map((r) => r.perUpdate)),
        loopPerUpdate: median(runs.map((r) => r.loopPerUpdate)),
      });
    }
  }
  const baseline = results[0]!.perUpdate;
  console.log('updates/txn  commit on   µs/update   µs/txn      updates/s   vs 1/txn   loop µs/update');
  for (const { size, where, perUpdate, loopPerUpdate } of results) {
    console.log(
      [
        String(size).padStart(11),
        where.padStart(10),
        perUpdate.toFixed(2).padStart(11),
        (perUpdate * size).toFixed(1).padStart(8),
        Math.round(1e6 / perUpdate)
          .toLocaleString('en')
          .padStart(14),
        `${(baseline / perUpdate).toFixed(1)}×`.padStart(10),
        loopPerUpdate.toFixed(2).padStart(16),
      ].join(' '),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
