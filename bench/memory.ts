/**
 * Memory and scale: server RSS per idle connection and per loaded account
 * document, the disk bytes of a stored (unloaded) account, and how many idle connections
 * would fit on this machine. Side by side for badgesync, the reference y-websocket server
 * and the bare relay, measured in the same run with the same clients.
 *
 *   node --import tsx memory.ts [--quick] [--servers badgesync,reference,relay]
 *        [--accounts M] [--connections N]
 *
 * Method, per server: WARM connections first (code paths and JIT settle), then the RSS
 * baseline; phase A opens one connection to each of M accounts (loading M documents);
 * phase B opens N more connections to those same accounts (no new documents). RSS per idle
 * connection = ΔB / N; per loaded account = ΔA / M − per connection. badgesync's accounts
 * are seeded into its SQLite file first (5 threads, 3 devices' markers each); the
 * reference and relay rooms start empty. Clients run in two worker processes; each
 * connection answers the sync handshake minimally and then stays idle (pings answered).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IdleOpenAnswer, IdleOpenRequest } from './clients/idle-clients.js';
import { listOption, numberOption } from './lib/args.js';
import { spawnScript, tempDir } from './lib/children.js';
import { Inspector } from './lib/inspector.js';
import { WorkerChannel } from './lib/ipc.js';
import { availableMemoryBytes, rssBytes } from './lib/proc.js';
import { scrape, total } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table, type Target } from './lib/report.js';
import { seedAccounts, seededDevice, sqliteFileBytes } from './lib/seed.js';
import { type RunningServer, SERVER_KINDS, type ServerKind, startServer } from './lib/servers.js';
import { median } from './lib/stats.js';

const result = beginResult('memory', 'Memory and scale: idle connections, loaded and unloaded accounts');
const quick = result.mode === 'quick';
const kinds = listOption('servers', SERVER_KINDS) as ServerKind[];
const ACCOUNTS = numberOption('accounts', quick ? 1_000 : 5_000);
const CONNECTIONS = numberOption('connections', quick ? 2_000 : 10_000);
/** Connections opened (to other accounts) before the baseline, so first-use costs are not counted. */
const WARM = 200;
const WORKERS = 2;
const SEED = { threads: 5, devices: 3 };
/** After opening connections: time for the server to finish the handshakes and settle. */
const SETTLE_MS = 1_000;

interface ServerMemory {
  readonly kind: ServerKind;
  readonly baseRss: number;
  readonly rssAfterAccounts: number;
  readonly rssAfterConnections: number;
  readonly perConnection: number;
  readonly perAccount: number;
  /** V8 heap in use (after a full collection): per connection, per account, at the baseline, at the end. */
  readonly heapPerConnection: number;
  readonly heapPerAccount: number;
  readonly baseHeap: number;
  readonly heapAtEnd: number;
  readonly opened: number;
  readonly failed: number;
  readonly connectMsPerConnection: number;
  /** badgesync: bytes on disk per stored account (database file / accounts). */
  readonly diskPerAccount: number | null;
  readonly unload: { loadedBefore: number; loadedAfter: number; waitedMs: number; rss: number; heap: number } | null;
}

/**
 * RSS and V8 heap in use once the server has settled: a full garbage collection first (via
 * the inspector), so both count what the server retains, not garbage not yet collected.
 */
async function settled(server: RunningServer, inspector: Inspector): Promise<{ rss: number; heap: number }> {
  await sleep(SETTLE_MS);
  await inspector.collectGarbage();
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    await sleep(200);
    samples.push(rssBytes(server.pid));
  }
  return { rss: median(samples), heap: await inspector.heapUsed() };
}

let connectionIndex = 0;

/** Opens `connections` split over the workers; resolves when all are ready (or failed). */
async function openAll(
  server: RunningServer,
  workers: readonly WorkerChannel[],
  connections: ReadonlyArray<{ account: string; device: string }>,
): Promise<{ opened: number; failed: number; ms: number; firstError: string | null }> {
  const began = performance.now();
  const answers = await Promise.all(
    workers.map((worker, w) => {
      const mine = connections.filter((_, i) => i % workers.length === w);
      const request: IdleOpenRequest = {
        syncUrl: server.syncUrl,
        deviceSecret: server.deviceSecret,
        connections: mine,
        connectionOffset: connectionIndex,
        ready: server.kind === 'relay' ? 'open' : 'yjs',
        concurrency: 32,
      };
      connectionIndex += mine.length;
      return worker.request<IdleOpenAnswer>('open', request);
    }),
  );
  return {
    opened: answers.reduce((sum, a) => sum + a.opened, 0),
    failed: answers.reduce((sum, a) => sum + a.failed, 0),
    ms: performance.now() - began,
    firstError: answers.find((a) => a.firstError !== null)?.firstError ?? null,
  };
}

async function measure(kind: ServerKind): Promise<ServerMemory> {
  const dir = kind === 'badgesync' ? tempDir('badgesync-bench-memory-') : null;
  const warmAccounts = Array.from({ length: WARM }, (_, i) => `warm-${i}`);
  const accounts = Array.from({ length: ACCOUNTS }, (_, i) => `acct-${i}`);
  let diskPerAccount: number | null = null;
  if (dir !== null) {
    const db = path.join(dir, 'badgesync.db');
    seedAccounts(db, { count: WARM, prefix: 'warm-', ...SEED });
    seedAccounts(db, { count: ACCOUNTS, prefix: 'acct-', ...SEED });
    diskPerAccount = sqliteFileBytes(db) / (WARM + ACCOUNTS);
  }
  const server = await startServer(kind, { ...(dir === null ? {} : { dir }), nodeFlags: ['--inspect=127.0.0.1:0'] });
  const inspector = await Inspector.attach(server.child);
  const workers: WorkerChannel[] = [];
  try {
    for (let w = 0; w < WORKERS; w++)
      workers.push(new WorkerChannel(spawnScript('clients/idle-clients.ts', { ipc: true })));
    const warm = await openAll(
      server,
      workers,
      warmAccounts.map((account) => ({ account, device: seededDevice(account, 0) })),
    );
    if (warm.failed > 0) throw new Error(`${kind}: ${warm.failed} warm-up connections failed: ${warm.firstError}`);
    const { rss: baseRss, heap: baseHeap } = await settled(server, inspector);
    const phaseA = await openAll(
      server,
      workers,
      accounts.map((account) => ({ account, device: seededDevice(account, 0) })),
    );
    const { rss: rssAfterAccounts, heap: heapAfterAccounts } = await settled(server, inspector);
    const phaseB = await openAll(
      server,
      workers,
      Array.from({ length: CONNECTIONS }, (_, i) => {
        const account = accounts[i % ACCOUNTS] as string;
        return { account, device: seededDevice(account, 1 + Math.floor(i / ACCOUNTS)) };
      }),
    );
    const { rss: rssAfterConnections, heap: heapAfterConnections } = await settled(server, inspector);
    const failed = phaseA.failed + phaseB.failed;
    if (failed > 0) log(`${kind}: ${failed} connections failed (${phaseA.firstError ?? phaseB.firstError})`);
    const perConnection = (rssAfterConnections - rssAfterAccounts) / phaseB.opened;
    const perAccount = (rssAfterAccounts - baseRss) / phaseA.opened - perConnection;
    const heapPerConnection = (heapAfterConnections - heapAfterAccounts) / phaseB.opened;
    const heapPerAccount = (heapAfterAccounts - baseHeap) / phaseA.opened - heapPerConnection;
    log(
      `${kind}: base ${fmt.bytes(baseRss)}, +${phaseA.opened} accounts ${fmt.bytes(rssAfterAccounts)}, ` +
        `+${phaseB.opened} connections ${fmt.bytes(rssAfterConnections)}: ${fmt.bytes(perConnection)}/connection, ${fmt.bytes(perAccount)}/account ` +
        `(opened in ${fmt.int(warm.ms)} + ${fmt.int(phaseA.ms)} + ${fmt.int(phaseB.ms)} ms, started in ${fmt.int(server.startMs)} ms)`,
    );
    await Promise.all(workers.map((worker) => worker.request('close')));
    let unload: ServerMemory['unload'] = null;
    if (kind === 'badgesync' && !quick) unload = await waitForUnload(server, inspector);
    return {
      kind,
      baseRss,
      rssAfterAccounts,
      rssAfterConnections,
      perConnection,
      perAccount,
      heapPerConnection,
      heapPerAccount,
      baseHeap,
      heapAtEnd: heapAfterConnections,
      opened: phaseA.opened + phaseB.opened,
      failed,
      connectMsPerConnection: (phaseA.ms + phaseB.ms) / (phaseA.opened + phaseB.opened),
      diskPerAccount,
      unload,
    };
  } finally {
    inspector.close();
    await Promise.all(workers.map((worker) => worker.child.stop()));
    await server.stop();
    if (dir !== null) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * With every connection closed, idle accounts unload after IDLE_UNLOAD_MS (60 s, swept
 * every 15 s): waits for badgesync_loaded_docs to reach zero, up to 100 s.
 */
async function waitForUnload(
  server: RunningServer,
  inspector: Inspector,
): Promise<NonNullable<ServerMemory['unload']>> {
  const began = performance.now();
  const loaded = async () => total(await scrape(server.http), 'badgesync_loaded_docs');
  const loadedBefore = await loaded();
  let now = loadedBefore;
  while (now > 0 && performance.now() - began < 100_000) {
    await sleep(2_000);
    now = await loaded();
  }
  const after = await settled(server, inspector);
  return { loadedBefore, loadedAfter: now, waitedMs: performance.now() - began, ...after };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const available = availableMemoryBytes();
  const measured: ServerMemory[] = [];
  for (const kind of kinds) measured.push(await measure(kind));
  const relay = measured.find((m) => m.kind === 'relay');
  const fit = (m: ServerMemory) => Math.floor((available - m.baseRss) / m.perConnection);
  const table: Table = {
    title: `${fmt.int(ACCOUNTS)} accounts loaded, then ${fmt.int(CONNECTIONS)} more idle connections to them`,
    columns: [
      'server',
      'RSS per idle connection',
      'vs relay',
      'RSS per loaded account',
      'heap per connection',
      'heap per account',
      'base RSS',
      'RSS at the end',
      'connections fit (extrapolated)',
    ],
    rows: measured.map((m) => ({
      server: m.kind,
      'RSS per idle connection': fmt.bytes(m.perConnection),
      'vs relay': relay === undefined ? null : fmt.ratio(m.perConnection / relay.perConnection),
      'RSS per loaded account': fmt.bytes(m.perAccount),
      'heap per connection': fmt.bytes(m.heapPerConnection),
      'heap per account': fmt.bytes(m.heapPerAccount),
      'base RSS': fmt.bytes(m.baseRss),
      'RSS at the end': fmt.bytes(m.rssAfterConnections),
      'connections fit (extrapolated)': fmt.int(fit(m)),
    })),
    notes: [
      'per loaded account: badgesync accounts hold 5 threads with heads and 3 devices’ markers (loaded from SQLite); reference and relay rooms are empty (no persistence), so only badgesync’s figure includes a document.',
      `connections fit: memory available at the start (${fmt.bytes(available)}) minus the base RSS, divided by RSS per idle connection — an extrapolation, not measured; ${fmt.int(WARM + ACCOUNTS + CONNECTIONS)} were open at once here. One process is also bounded by its file descriptors (ulimit -n).`,
      'each figure is taken 1 s after the last connection is ready, after a full garbage collection forced through the server’s inspector (every server runs with --inspect=127.0.0.1:0): RSS is the median of 3 samples, heap is V8’s heap in use. An RSS delta can come out below the heap delta when the heap grows into pages the previous collection freed but the process kept; the larger the counts (full mode), the steadier the figures.',
    ],
  };
  const badgesync = measured.find((m) => m.kind === 'badgesync');
  const tables: Table[] = [table];
  if (badgesync !== undefined) {
    const rows = [
      {
        what: `disk per stored account (SQLite file incl. WAL ÷ ${fmt.int(WARM + ACCOUNTS)} seeded accounts)`,
        figure: fmt.bytes(badgesync.diskPerAccount),
      },
      {
        what: 'memory per stored, unloaded account',
        figure: 'see cold: a server on 100,000 stored accounts against one on an empty file',
      },
    ];
    if (badgesync.unload !== null) {
      rows.push({
        what: `after closing every connection: loaded documents ${badgesync.unload.loadedBefore} → ${badgesync.unload.loadedAfter} in ${fmt.int(badgesync.unload.waitedMs / 1000)} s`,
        figure: `heap used ${fmt.bytes(badgesync.heapAtEnd)} → ${fmt.bytes(badgesync.unload.heap)} (${fmt.bytes(badgesync.baseHeap)} before loading them); RSS ${fmt.bytes(badgesync.rssAfterConnections)} → ${fmt.bytes(badgesync.unload.rss)}`,
      });
    }
    tables.push({ title: 'badgesync: unloaded accounts', columns: ['what', 'figure'], rows });
  }
  const targets: Target[] =
    badgesync === undefined
      ? []
      : [
          {
            target: 'RSS ≤ 20 KB per idle connection',
            measured: `${fmt.bytes(badgesync.perConnection)} (${fmt.int(CONNECTIONS)} connections; the bare relay: ${fmt.bytes(relay?.perConnection) ?? 'not measured'})`,
            met: badgesync.perConnection <= 20 * 1024,
          },
        ];
  emitResult(
    result.finish(
      tables,
      [],
      { accounts: ACCOUNTS, connections: CONNECTIONS, warm: WARM, availableMemory: available, measured },
      targets,
    ),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`memory: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
