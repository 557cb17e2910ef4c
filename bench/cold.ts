/**
 * Cold paths, each against a baseline measured in the same run:
 *
 * - start-up (spawn → "badgesync listening") on 100,000 stored accounts, against an empty
 *   database; and the RSS of each idle afterwards, which is what an unloaded account costs
 *   in memory;
 * - first sync of an unloaded account (a stock y-websocket provider: connect → synced), p50
 *   and p99, against a second sync of the same account once it is loaded;
 * - storage per account after 100,000 marker updates on one account (3 devices × 20
 *   threads, through the real sync path), with the room's compaction, against the bytes
 *   of the updates themselves (what the log would hold without compaction).
 *
 *   node --import tsx cold.ts [--quick] [--accounts N] [--syncs K] [--updates U]
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMPACT_AFTER_UPDATES } from '../server/src/rooms/room-manager.js';
import { numberOption } from './lib/args.js';
import { tempDir } from './lib/children.js';
import { compactionStall } from './lib/compaction-stall.js';
import { heavyAccount } from './lib/heavy-account.js';
import { probeLoopback } from './lib/loopback.js';
import { rssBytes } from './lib/proc.js';
import { scrape, total } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table, type Target } from './lib/report.js';
import { seedAccounts, sqliteFileBytes } from './lib/seed.js';
import { startServer } from './lib/servers.js';
import { median, percentile } from './lib/stats.js';
import { timeProviderSync } from './lib/sync-clients.js';

const result = beginResult('cold', 'Cold paths: start-up, first sync of an unloaded account, storage after compaction');
const quick = result.mode === 'quick';
const ACCOUNTS = numberOption('accounts', 100_000);
const SYNCS = numberOption('syncs', quick ? 200 : 1_000);
const UPDATES = numberOption('updates', 100_000);
const START_RUNS = quick ? 2 : 5;
const SEED = { threads: 5, devices: 3 };
/** Marker updates: 3 devices × 20 threads, as a person with a phone, a laptop and a tablet. */
const WRITERS = { devices: 3, threads: 20 };
/**
 * Updates one device sends per connection. badgesync allows a burst of 1,000 messages per
 * connection (then 200/s: session.ts); a device that reconnects, as phones do all day,
 * starts with a fresh burst. 900 keeps each session inside the burst.
 */
const UPDATES_PER_SESSION = 900;
/** Rooms that reach the compaction threshold together (quick: 200, as fan-out's quick size). */
const COMPACTION_ROOMS = numberOption('compaction-rooms', quick ? 200 : 1_000);

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface StartFigures {
  readonly emptyMs: number[];
  readonly seededMs: number[];
  readonly emptyRss: number[];
  readonly seededRss: number[];
  readonly loadedDocs: number;
}

/** Starts a server on each database in turn, START_RUNS times, and records start time and idle RSS. */
async function startUps(emptyDir: string, seededDir: string): Promise<StartFigures> {
  const figures: StartFigures = { emptyMs: [], seededMs: [], emptyRss: [], seededRss: [], loadedDocs: 0 };
  let loadedDocs = 0;
  for (let run = 0; run < START_RUNS; run++) {
    for (const [dir, ms, rss] of [
      [emptyDir, figures.emptyMs, figures.emptyRss],
      [seededDir, figures.seededMs, figures.seededRss],
    ] as const) {
      const server = await startServer('badgesync', { dir });
      try {
        ms.push(server.startMs);
        await sleep(1_000);
        rss.push(rssBytes(server.pid));
        loadedDocs = Math.max(loadedDocs, total(await scrape(server.http), 'badgesync_loaded_docs'));
      } finally {
        await server.stop({ keepDir: true });
      }
    }
  }
  return { ...figures, loadedDocs };
}

interface SyncFigures {
  readonly cold: Float64Array;
  readonly warm: Float64Array;
}

/** First sync of SYNCS random unloaded accounts, each followed by a second (warm) sync. */
async function firstSyncs(seededDir: string): Promise<SyncFigures> {
  const server = await startServer('badgesync', { dir: seededDir });
  try {
    // A few syncs first (the last accounts), so JIT and the first SQLite pages are not in the figures.
    const WARMUP = 20;
    for (let i = ACCOUNTS - WARMUP; i < ACCOUNTS; i++) await timeProviderSync(server, `cold-${i}`, 'warmup');
    const picked = new Set<number>();
    while (picked.size < Math.min(SYNCS, ACCOUNTS - WARMUP))
      picked.add(Math.floor(Math.random() * (ACCOUNTS - WARMUP)));
    const cold: number[] = [];
    const warm: number[] = [];
    for (const i of picked) {
      cold.push(await timeProviderSync(server, `cold-${i}`, `cold-${i}-d0`));
      warm.push(await timeProviderSync(server, `cold-${i}`, `cold-${i}-d1`));
    }
    return { cold: Float64Array.from(cold).sort(), warm: Float64Array.from(warm).sort() };
  } finally {
    await server.stop({ keepDir: true });
  }
}

async function main(): Promise<void> {
  await probeLoopback();
  const emptyDir = tempDir('badgesync-bench-empty-');
  const seededDir = tempDir('badgesync-bench-cold-');
  try {
    const seeded = seedAccounts(path.join(seededDir, 'badgesync.db'), { count: ACCOUNTS, prefix: 'cold-', ...SEED });
    const seededFile = sqliteFileBytes(path.join(seededDir, 'badgesync.db'));
    log(`seeded ${fmt.int(ACCOUNTS)} accounts in ${fmt.int(seeded.ms)} ms: ${fmt.bytes(seededFile)}`);
    // The empty database: created by a first start, so both runs below open an existing file.
    const first = await startServer('badgesync', { dir: emptyDir });
    await first.stop({ keepDir: true });
    const starts = await startUps(emptyDir, seededDir);
    log(
      `start-up: empty ${fmt.int(median(starts.emptyMs))} ms, ${fmt.int(ACCOUNTS)} accounts ${fmt.int(median(starts.seededMs))} ms`,
    );
    const syncs = await firstSyncs(seededDir);
    log(`first sync p50 ${fmt.ms(percentile(syncs.cold, 50))} ms, p99 ${fmt.ms(percentile(syncs.cold, 99))} ms`);
    const stored = await heavyAccount({ updates: UPDATES, ...WRITERS, perSession: UPDATES_PER_SESSION });
    log(
      `storage: ${fmt.int(stored.updates)} updates in ${fmt.int(stored.ms)} ms, ${fmt.bytes(stored.storedBytes)} stored`,
    );
    const compaction = await compactionStall(COMPACTION_ROOMS);
    log(
      `compaction: ${compaction.rooms} rooms due at once: probe round trip up to ${fmt.ms(compaction.sweepMaxMs)} ms through the sweep (before: ${fmt.ms(compaction.baselineMaxMs)} ms)`,
    );

    const rssEmpty = median(starts.emptyRss);
    const rssSeeded = median(starts.seededRss);
    const startTable: Table = {
      title: `Start-up and idle memory (median of ${START_RUNS} starts each, alternating)`,
      columns: ['database', 'start-up ms', 'vs empty', 'idle RSS', 'RSS per stored account', 'documents loaded'],
      rows: [
        {
          database: 'empty',
          'start-up ms': fmt.int(median(starts.emptyMs)),
          'vs empty': fmt.ratio(1),
          'idle RSS': fmt.bytes(rssEmpty),
          'RSS per stored account': null,
          'documents loaded': null,
        },
        {
          database: `${fmt.int(ACCOUNTS)} stored accounts (${fmt.bytes(seededFile)})`,
          'start-up ms': fmt.int(median(starts.seededMs)),
          'vs empty': fmt.ratio(median(starts.seededMs) / median(starts.emptyMs)),
          'idle RSS': fmt.bytes(rssSeeded),
          'RSS per stored account': `${fmt.fixed((rssSeeded - rssEmpty) / ACCOUNTS, 2)} B`,
          'documents loaded': starts.loadedDocs,
        },
      ],
      notes: [
        'start-up: spawn of `node --import tsx server/src/main.ts serve` until it logs "badgesync listening" (includes Node and tsx start-up, which the empty row measures).',
        `stored accounts: ${SEED.threads} threads with heads and ${SEED.devices} devices' markers each, with counts and client bindings, seeded through SqliteStore; ${fmt.bytes(seededFile / ACCOUNTS)} on disk per account.`,
      ],
    };
    const syncTable: Table = {
      title: `First sync of an unloaded account (${fmt.int(syncs.cold.length)} random accounts of ${fmt.int(ACCOUNTS)}, one at a time)`,
      columns: ['sync', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'p50 vs loaded'],
      rows: [
        {
          sync: 'first (document loaded from SQLite)',
          'p50 ms': fmt.ms(percentile(syncs.cold, 50)),
          'p90 ms': fmt.ms(percentile(syncs.cold, 90)),
          'p99 ms': fmt.ms(percentile(syncs.cold, 99)),
          'max ms': fmt.ms(syncs.cold[syncs.cold.length - 1]),
          'p50 vs loaded': fmt.ratio(percentile(syncs.cold, 50) / percentile(syncs.warm, 50)),
        },
        {
          sync: 'second (already loaded)',
          'p50 ms': fmt.ms(percentile(syncs.warm, 50)),
          'p90 ms': fmt.ms(percentile(syncs.warm, 90)),
          'p99 ms': fmt.ms(percentile(syncs.warm, 99)),
          'max ms': fmt.ms(syncs.warm[syncs.warm.length - 1]),
          'p50 vs loaded': fmt.ratio(1),
        },
      ],
      notes: [
        'a stock y-websocket provider from this process (not the server’s): new WebSocket → upgrade with token check → sync step 1/2 → "synced".',
      ],
    };
    const storageTable: Table = {
      title: `Storage of one account after ${fmt.int(stored.updates)} marker updates (${WRITERS.devices} devices × ${WRITERS.threads} threads)`,
      columns: ['what', 'bytes', 'per update'],
      rows: [
        {
          what: 'the updates as sent (a log without compaction holds about this)',
          bytes: fmt.bytes(stored.sentBytes),
          'per update': `${fmt.fixed(stored.sentBytes / stored.updates, 1)} B`,
        },
        {
          what: `stored for the account after compaction (snapshot ${fmt.bytes(stored.snapshotBytes)} + ${stored.logEntries} log entries)`,
          bytes: fmt.bytes(stored.storedBytes),
          'per update': `${fmt.fixed(stored.storedBytes / stored.updates, 3)} B`,
        },
        {
          what: 'the whole SQLite file after shutdown',
          bytes: fmt.bytes(stored.fileBytes),
          'per update': null,
        },
        {
          what: `a new device's first sync of this account downloads (unloaded: ${fmt.ms(stored.firstSyncMs)} ms; loaded: ${fmt.ms(stored.secondSyncMs)} ms)`,
          bytes: fmt.bytes(stored.stateBytes),
          'per update': null,
        },
      ],
      notes: [
        `written through the sync path in ${fmt.int(stored.ms / 1000)} s (${fmt.int(stored.updates / (stored.ms / 1000))} updates/s, ${UPDATES_PER_SESSION} per connection, then a reconnect); lost: ${stored.lost}.`,
        'compaction: a loaded room with ≥ 500 log entries is compacted every 15 s and on an idle unload, not at shutdown: the stored row is the last snapshot plus the log written after it.',
      ],
    };
    const compactionTable: Table = {
      title: `Compaction: ${fmt.int(compaction.rooms)} loaded rooms reaching ${COMPACT_AFTER_UPDATES} log entries together`,
      columns: ['rooms', 'longest probe round trip ms', 'vs before'],
      rows: [
        {
          rooms: 'loaded, each just written to its last entry before compaction (before the sweep)',
          'longest probe round trip ms': fmt.ms(compaction.baselineMaxMs),
          'vs before': fmt.ratio(1),
        },
        {
          rooms: 'the 15 s sweep that compacts them all',
          'longest probe round trip ms': fmt.ms(compaction.sweepMaxMs),
          'vs before': fmt.ratio(compaction.sweepMaxMs / compaction.baselineMaxMs),
        },
      ],
      notes: [
        'the sweep (room-manager.ts) compacts every room with ≥ 500 log entries in one pass, each compaction its own fsync’d transaction, on the event loop: nothing is received, relayed or committed meanwhile. Rooms written at a steady rate reach 500 together.',
        'probe: a connection to an account of its own sends a sync step 1 every 20 ms and times the step 2 that answers it (the server answers once it has handled everything before). The fan-out steps are too short for any room to reach 500 entries, so their latencies do not include this.',
      ],
    };
    const perStored = (rssSeeded - rssEmpty) / ACCOUNTS;
    const targets: Target[] = [
      {
        target: 'an unloaded account costs no memory',
        measured: `${fmt.fixed(perStored, 1)} B of RSS per stored account (idle server on ${fmt.int(ACCOUNTS)} accounts vs an empty file; ${starts.loadedDocs} documents loaded); ${fmt.bytes(seededFile / ACCOUNTS)} on disk each`,
        // Any per-account structure (a Map entry) would cost ≥ 64 B; below that is RSS noise.
        met: starts.loadedDocs === 0 && perStored < 64,
      },
    ];
    emitResult(
      result.finish(
        [startTable, syncTable, storageTable, compactionTable],
        [],
        {
          accounts: ACCOUNTS,
          seededFileBytes: seededFile,
          starts,
          syncs: { cold: Array.from(syncs.cold), warm: Array.from(syncs.warm) },
          storage: stored,
          compaction,
        },
        targets,
      ),
    );
  } finally {
    rmSync(emptyDir, { recursive: true, force: true });
    rmSync(seededDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cold: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
