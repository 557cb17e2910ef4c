/**
 * The cost of one account at each document budget's default limit (SPEC BUDGET-1..BUDGET-3):
 * what the server stores and holds for it, how long it takes to load, and what one small
 * change then costs to commit. In process, with the server's own parts (SqliteStore with
 * synchronous=FULL, group commit, RoomManager, write rules and budgets).
 *
 *   node --import tsx bench/budgets.ts [--quick]
 *
 * Accounts, each built with the worst IDs the contract allows (128 characters):
 * - baseline: 10 threads, 2 devices;
 * - client IDs: 50,000 client IDs (the account budget), 10,000 on each of 5 devices (the
 *   device budget), each having written a mute once, in turn;
 * - concurrent: 1,000 mutes keys, each written concurrently by 8 client IDs (the per-key budget);
 * - mutes: 10,000 mutes keys;
 * - threads and reads: 10,000 threads with a head, read on 5 devices (50,000 reads keys).
 *
 * Figures: the stored snapshot; the state vector every step 1 carries; heap held by the
 * loaded room; load time (bindings, replay, counts); one change (a mute toggled by a device,
 * through receiveUpdate) to durable on disk, median of several.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type AccountId,
  accountMaps,
  CountsTracker,
  type DeviceId,
  type DocumentBudgets,
  deriveCounts,
  packMarker,
  parseAccountId,
  readsKey,
  type ThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { documentBudgets, loadConfig } from '../server/src/config.js';
import { createLogger } from '../server/src/log.js';
import { Metrics } from '../server/src/metrics.js';
import type { RoomMember } from '../server/src/rooms/account-room.js';
import { GroupCommit } from '../server/src/rooms/group-commit.js';
import { RoomManager } from '../server/src/rooms/room-manager.js';
import { SqliteStore } from '../server/src/store/sqlite-store.js';
import { type ForgedBlock, forgeUpdate } from '../shared/test/helpers/forge.js';
import { tempDir } from './lib/children.js';
import { beginResult, emitResult, fmt } from './lib/report.js';
import { median } from './lib/stats.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const result = beginResult('budgets', 'One account at each document budget: stored, held, load, commit');
const quick = result.mode === 'quick';
/** Loads and commits per figure: medians of 5 (3 in quick mode) are steady to a few percent. */
const RUNS = quick ? 3 : 5;
const BUDGETS: DocumentBudgets = documentBudgets(loadConfig([], {}));
const THREAD_BUDGET = loadConfig([], {}).maxThreads;

/** A 128-character ID (the longest the contract allows) ending in `tag`. */
function longId(tag: string): string {
  return `${'x'.repeat(128 - tag.length - 1)}-${tag}`;
}

const DEVICES = Array.from({ length: 5 }, (_, i) => longId(`device${i}`) as DeviceId);

interface Built {
  readonly doc: Y.Doc;
  /** Client ID → device. */
  readonly bindings: Map<number, DeviceId>;
  /** A client ID of DEVICES[0] the change is written under. */
  readonly writer: number;
}

function withClient(doc: Y.Doc, client: number, write: () => void): void {
  doc.clientID = client;
  doc.transact(write);
}

function baseline(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  withClient(doc, 1, () => {
    for (let t = 0; t < 10; t++) accountMaps(doc).heads.set(longId(`t${t}`), 20);
  });
  bindings.set(1, '@server' as DeviceId);
  for (const [i, device] of DEVICES.slice(0, 2).entries()) {
    withClient(doc, 100 + i, () => {
      for (let t = 0; t < 10; t++)
        accountMaps(doc).reads.set(readsKey(longId(`t${t}`) as ThreadId, device), packMarker(0, 5));
    });
    bindings.set(100 + i, device);
  }
  return { doc, bindings, writer: 100 };
}

/**
 * Built as one hand-encoded update: writing under 50,000 client IDs one transaction at a time
 * costs O(clients) per transaction (Yjs takes the state vector of each), minutes in all.
 */
function manyClients(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  const perDevice = BUDGETS.clientsPerDevice;
  const total = Math.min(BUDGETS.clientsPerAccount, perDevice * DEVICES.length);
  const blocks: ForgedBlock[] = [];
  for (let i = 0; i < total; i++) {
    const client = 1_000 + i;
    // Each client overwrites the value the client 100 before it wrote: 100 keys, one chain each.
    const item =
      i < 100
        ? { kind: 'item' as const, parent: 'mutes', key: longId(`m${i}`), content: { any: [true] } }
        : { kind: 'item' as const, origin: { client: client - 100, clock: 0 }, content: { any: [i % 2 === 0] } };
    blocks.push({ client, clock: 0, structs: [item] });
    bindings.set(client, DEVICES[Math.floor(i / perDevice)] as DeviceId);
  }
  Y.applyUpdate(doc, forgeUpdate(blocks));
  return { doc, bindings, writer: 1_000 };
}

function concurrent(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  const updates: Uint8Array[] = [];
  for (let c = 0; c < BUDGETS.concurrentPerKey; c++) {
    const replica = new Y.Doc();
    withClient(replica, 2_000 + c, () => {
      for (let k = 0; k < 1_000; k++) accountMaps(replica).mutes.set(longId(`m${k}`), c % 2 === 0);
    });
    updates.push(Y.encodeStateAsUpdate(replica));
    bindings.set(2_000 + c, DEVICES[c % DEVICES.length] as DeviceId);
    replica.destroy();
  }
  Y.applyUpdate(doc, Y.mergeUpdates(updates));
  return { doc, bindings, writer: 2_000 };
}

function mutes(): Built {
  const doc = new Y.Doc();
  withClient(doc, 3_000, () => {
    for (let k = 0; k < BUDGETS.mutesPerAccount; k++) accountMaps(doc).mutes.set(longId(`m${k}`), true);
  });
  return { doc, bindings: new Map([[3_000, DEVICES[0] as DeviceId]]), writer: 3_000 };
}

function threadsAndReads(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  const threads = Array.from({ length: THREAD_BUDGET }, (_, t) => longId(`t${t}`) as ThreadId);
  withClient(doc, 4_000, () => {
    for (const thread of threads) accountMaps(doc).heads.set(thread, 100);
  });
  bindings.set(4_000, '@server' as DeviceId);
  const perDevice = Math.floor(BUDGETS.readsPerAccount / DEVICES.length);
  for (const [i, device] of DEVICES.entries()) {
    withClient(doc, 4_100 + i, () => {
      for (const thread of threads.slice(0, perDevice))
        accountMaps(doc).reads.set(readsKey(thread, device), packMarker(0, 50));
    });
    bindings.set(4_100 + i, device);
  }
  return { doc, bindings, writer: 4_100 };
}

const CASES: ReadonlyArray<readonly [string, string, () => Built]> = [
  ['baseline', '10 threads, 2 devices', baseline],
  [
    'client IDs',
    `${BUDGETS.clientsPerAccount.toLocaleString('en')} IDs, ${BUDGETS.clientsPerDevice.toLocaleString('en')} per device`,
    manyClients,
  ],
  ['concurrent', `1,000 keys × ${BUDGETS.concurrentPerKey} concurrent writes`, concurrent],
  ['mutes', `${BUDGETS.mutesPerAccount.toLocaleString('en')} mutes`, mutes],
  [
    'threads + reads',
    `${THREAD_BUDGET.toLocaleString('en')} threads, ${BUDGETS.readsPerAccount.toLocaleString('en')} reads keys`,
    threadsAndReads,
  ],
];

const dir = tempDir('badgesync-budgets-');
const store = new SqliteStore(`${dir}/budgets.db`);
const metrics = new Metrics();
const commit = new GroupCommit(store, metrics, (err) => {
  throw err;
});
const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
const rooms = new RoomManager({ store, commit, metrics, log: createLogger('silent'), events, budgets: BUDGETS }, 1_000);

function seed(account: AccountId, built: Built): number {
  const snapshot = Y.encodeStateAsUpdate(built.doc);
  store.compact(account, snapshot, Number.MAX_SAFE_INTEGER);
  store.commit({
    updates: [],
    counts: [{ account, counts: deriveCounts(built.doc) }],
    bindings: [...built.bindings].map(([clientId, device]) => ({ account, clientId, device })),
    idempotency: [],
  });
  return snapshot.byteLength;
}

/** Loads the account RUNS times from disk: median load time and the heap the loaded room holds. */
function measureLoad(account: AccountId): { loadMs: number; heapBytes: number } {
  const times: number[] = [];
  const heaps: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const began = performance.now();
    rooms.get(account);
    times.push(performance.now() - began);
    gc();
    heaps.push(process.memoryUsage().heapUsed - before);
    rooms.sweep(Number.MAX_SAFE_INTEGER);
  }
  return { loadMs: median(times), heapBytes: median(heaps) };
}

/** One mute toggled by a device under a client ID it owns: receiveUpdate to durable on disk. */
async function measureCommit(account: AccountId, built: Built): Promise<{ commitMs: number; refused: string | null }> {
  const room = rooms.get(account);
  const device = built.bindings.get(built.writer) as DeviceId;
  const member: RoomMember = { device, send() {}, close() {} };
  room.join(member);
  const replica = new Y.Doc();
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(room.doc));
  replica.clientID = built.writer;
  const tracker = new CountsTracker(replica);
  const times: number[] = [];
  let refused: string | null = null;
  for (let run = 0; run < RUNS + 1; run++) {
    const key = longId('m0');
    const updates: Uint8Array[] = [];
    const listen = (u: Uint8Array) => updates.push(u);
    replica.on('update', listen);
    accountMaps(replica).mutes.set(key, accountMaps(replica).mutes.get(key) !== true);
    replica.off('update', listen);
    const began = performance.now();
    const answer = room.receiveUpdate(member, updates[0] as Uint8Array);
    await commit.flushed();
    if (answer.kind === 'refused') refused = answer.reason;
    if (run > 0) times.push(performance.now() - began);
  }
  tracker.destroy();
  room.leave(member);
  return { commitMs: median(times), refused };
}

const rows: Array<Record<string, string | null>> = [];
const data: unknown[] = [];
for (const [name, shape, build] of CASES) {
  const account = parseAccountId(`budget-${name.replace(/\W+/g, '-')}`);
  const builtAt = performance.now();
  const built = build();
  const buildMs = performance.now() - builtAt;
  const snapshotBytes = seed(account, built);
  const stateVectorBytes = Y.encodeStateVector(built.doc).byteLength;
  const load = measureLoad(account);
  const change = await measureCommit(account, built);
  const bytesOnDisk = snapshotBytes;
  rows.push({
    account: name,
    shape,
    snapshot: fmt.bytes(bytesOnDisk),
    'state vector': fmt.bytes(stateVectorBytes),
    'heap held': fmt.bytes(load.heapBytes),
    'load ms': fmt.fixed(load.loadMs, 1),
    'one change to disk ms': change.refused === null ? fmt.fixed(change.commitMs, 2) : `refused: ${change.refused}`,
  });
  data.push({ name, shape, buildMs, snapshotBytes, stateVectorBytes, ...load, ...change });
  built.doc.destroy();
  rooms.sweep(Number.MAX_SAFE_INTEGER);
}
rooms.close();
commit.close();
store.close();

emitResult(
  result.finish(
    [
      {
        title: 'One account at each budget (default settings, 128-character IDs)',
        columns: ['account', 'shape', 'snapshot', 'state vector', 'heap held', 'load ms', 'one change to disk ms'],
        rows,
        notes: [
          'snapshot: what the store holds and every load replays; state vector: what every sync step 1 of the server carries',
          'heap held: heap still used with the room loaded (after GC); load: bindings + snapshot replay + counts, from SQLite',
          `one change: a device toggles a mute through the write rules and budgets, then the group commit (fsync) — median of ${RUNS}`,
        ],
      },
    ],
    [],
    data,
  ),
);
