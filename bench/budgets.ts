/**
 * The cost of one account at each document budget's default limit (SPEC BUDGET-1, BUDGET-6,
 * BUDGET-7): what the server stores and holds for it, how long it takes to load, and what one
 * small change then costs to commit. In process, with the server's own parts (SqliteStore
 * with synchronous=FULL, group commit, RoomManager, write rules and budgets).
 *
 * Contract v2 (SPEC DOC-7..DOC-13): heads in `v2/heads` (the server's client ID), each
 * device's markers and mute stamps in its own array `v2/device/<device>`. v1's rows were
 * re-cut for v2's budgets: BUDGET-2 (concurrent writes of one map key, by any client IDs) is
 * retired for BUDGET-6 (live entries of one key in one device array, i.e. concurrent sessions
 * of one device), and BUDGET-3 (mutes / reads / threads keys) for BUDGET-7 (threads with a
 * live mute entry, live marker keys, threads with a head), so the "concurrent", "mutes" and
 * "threads + reads" rows measure v2's limits, not v1's, and do not compare with v1's figures.
 *
 *   node --import tsx bench/budgets.ts [--quick]
 *
 * Accounts, each built with the worst IDs the contract allows (128 characters):
 * - baseline: 10 threads, 2 devices;
 * - client IDs: as many client IDs as the account budget allows, up to the device budget on
 *   each of 5 devices, each having written a mute once, in turn (a set in its device's array:
 *   the key's older entry deleted, the new stamp pushed; 100 keys per device);
 * - concurrent: 1,000 mute keys in one device's array, each with as many live entries as
 *   BUDGET-6 allows (that many concurrent sessions of the device, each writing every key);
 * - mutes: 10,000 threads with a live mute entry (BUDGET-7), in one device's array;
 * - threads and reads: 10,000 threads with a head and 20,000 live marker keys (BUDGET-7),
 *   over 5 devices (4,000 threads each).
 *
 * Figures: the stored snapshot; the state vector every step 1 carries; heap held by the
 * loaded room; load time (bindings, replay, counts); one change (a mute toggled by a device
 * with `KeyValueArray.set`, its stamp from planMute, through receiveUpdate) to durable on
 * disk, median of several.
 *
 * A second table: one account whose awareness is full at the defaults (SPEC AWARE-1..AWARE-3),
 * as 8 KiB states up to the account's 64 KiB, and as 256 client IDs of 256 B states. Figures:
 * heap held by the relay (with its cached snapshot); the bytes a joiner and a query-awareness
 * are sent; the time to build that snapshot after a change; one awareness update relayed by
 * the room to 64 fake connections that count the bytes they are sent.
 */
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type AccountId,
  CountsTracker,
  type DeviceId,
  type DocumentBudgets,
  deriveCounts,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  packMarker,
  packMuteStamp,
  parseAccountId,
  planMute,
  SERVER_DEVICE,
  type ThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { documentBudgets, loadConfig } from '../server/src/config.js';
import { createLogger } from '../server/src/log.js';
import { Metrics } from '../server/src/metrics.js';
import type { RoomMember } from '../server/src/rooms/account-room.js';
import { GroupCommit } from '../server/src/rooms/group-commit.js';
import { RoomManager } from '../server/src/rooms/room-manager.js';
import { asyncStore } from '../server/src/store/async-store.js';
import { SqliteStore } from '../server/src/store/sqlite-store.js';
import {
  type AwarenessChange,
  AwarenessRelay,
  DEFAULT_AWARENESS_BUDGET,
  encodeAwarenessChanges,
  MAX_AWARENESS_CLIENTS,
} from '../server/src/sync/awareness-relay.js';
import { type ForgedBlock, type ForgedRange, forgeUpdate } from '../shared/test/helpers/forge.js';
import { tempDir } from './lib/children.js';
import { beginResult, emitResult, fmt } from './lib/report.js';
import { median } from './lib/stats.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const result = beginResult(
  'budgets',
  'One account at each document budget: stored, held, load, commit; and with its awareness full',
);
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

/** `entries` pushed at the end of `root` under `client`: every key new, so no set's search. */
function pushEntries(doc: Y.Doc, client: number, root: string, entries: Entry[]): void {
  withClient(doc, client, () => doc.getArray<Entry>(root).push(entries));
}

const THREAD = (t: number) => longId(`t${t}`) as ThreadId;
const MUTED = (k: number) => muteKey(longId(`m${k}`) as ThreadId);

function baseline(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  pushEntries(
    doc,
    1,
    HEADS_ROOT,
    Array.from({ length: 10 }, (_, t) => ({ key: THREAD(t), val: 20 })),
  );
  bindings.set(1, SERVER_DEVICE);
  for (const [i, device] of DEVICES.slice(0, 2).entries()) {
    pushEntries(
      doc,
      100 + i,
      deviceRoot(device),
      Array.from({ length: 10 }, (_, t) => ({ key: THREAD(t), val: packMarker(0, 5) })),
    );
    bindings.set(100 + i, device);
  }
  return { doc, bindings, writer: 100 };
}

/**
 * Built as one hand-encoded update: writing under 20,000 client IDs one transaction at a time
 * costs O(clients) per transaction (Yjs takes the state vector of each), minutes in all.
 * Each client's write is what `KeyValueArray.set` sends: its entry pushed after the last item
 * of its device's array (the previous client's), the key's older entry (written 100 clients
 * before it, on the same device) deleted; the stamp's counter rises by one per round of keys.
 */
function manyClients(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  const perDevice = BUDGETS.clientsPerDevice;
  const total = Math.min(BUDGETS.clientsPerAccount, perDevice * DEVICES.length);
  const blocks: ForgedBlock[] = [];
  const deletes: ForgedRange[] = [];
  for (let i = 0; i < total; i++) {
    const client = 1_000 + i;
    const device = DEVICES[Math.floor(i / perDevice)] as DeviceId;
    const j = i % perDevice;
    const entry = { key: MUTED(j % 100), val: packMuteStamp(Math.floor(j / 100) + 1, j % 2 === 0) };
    const item =
      j === 0
        ? { kind: 'item' as const, parent: deviceRoot(device), content: { any: [entry] } }
        : { kind: 'item' as const, origin: { client: client - 1, clock: 0 }, content: { any: [entry] } };
    blocks.push({ client, clock: 0, structs: [item] });
    if (j >= 100) deletes.push({ client: client - 100, clock: 0, len: 1 });
    bindings.set(client, device);
  }
  Y.applyUpdate(doc, forgeUpdate(blocks, deletes));
  return { doc, bindings, writer: 1_000 };
}

/**
 * BUDGET-6's limit on every key of 1,000: that many sessions of one device, each unaware of
 * the others, set every key once (one push of 1,000 entries each, all at the array's start).
 */
function concurrent(): Built {
  const device = DEVICES[0] as DeviceId;
  const bindings = new Map<number, DeviceId>();
  const updates: Uint8Array[] = [];
  for (let c = 0; c < BUDGETS.concurrentPerKey; c++) {
    const replica = new Y.Doc();
    pushEntries(
      replica,
      2_000 + c,
      deviceRoot(device),
      Array.from({ length: 1_000 }, (_, k) => ({ key: MUTED(k), val: packMuteStamp(1, c % 2 === 0) })),
    );
    updates.push(Y.encodeStateAsUpdate(replica));
    bindings.set(2_000 + c, device);
    replica.destroy();
  }
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.mergeUpdates(updates));
  return { doc, bindings, writer: 2_000 };
}

function mutes(): Built {
  const doc = new Y.Doc();
  pushEntries(
    doc,
    3_000,
    deviceRoot(DEVICES[0] as DeviceId),
    Array.from({ length: BUDGETS.mutesPerAccount }, (_, k) => ({ key: MUTED(k), val: packMuteStamp(1, true) })),
  );
  return { doc, bindings: new Map([[3_000, DEVICES[0] as DeviceId]]), writer: 3_000 };
}

function threadsAndReads(): Built {
  const doc = new Y.Doc();
  const bindings = new Map<number, DeviceId>();
  const threads = Array.from({ length: THREAD_BUDGET }, (_, t) => THREAD(t));
  pushEntries(
    doc,
    4_000,
    HEADS_ROOT,
    threads.map((key) => ({ key, val: 100 })),
  );
  bindings.set(4_000, SERVER_DEVICE);
  const perDevice = Math.floor(BUDGETS.readsPerAccount / DEVICES.length);
  for (const [i, device] of DEVICES.entries()) {
    pushEntries(
      doc,
      4_100 + i,
      deviceRoot(device),
      threads.slice(0, perDevice).map((key) => ({ key, val: packMarker(0, 50) })),
    );
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
  ['concurrent', `1,000 keys × ${BUDGETS.concurrentPerKey} live entries (one device)`, concurrent],
  ['mutes', `${BUDGETS.mutesPerAccount.toLocaleString('en')} muted threads`, mutes],
  [
    'threads + reads',
    `${THREAD_BUDGET.toLocaleString('en')} threads, ${BUDGETS.readsPerAccount.toLocaleString('en')} marker keys`,
    threadsAndReads,
  ],
];

const dir = tempDir('badgesync-budgets-');
const store = new SqliteStore(`${dir}/budgets.db`);
const metrics = new Metrics();
const served = asyncStore(store);
const commit = new GroupCommit(served, metrics, (err) => {
  throw err;
});
const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
const rooms = new RoomManager(
  { store: served, commit, metrics, log: createLogger('silent'), events, budgets: BUDGETS },
  1_000,
);

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
async function measureLoad(account: AccountId): Promise<{ loadMs: number; heapBytes: number }> {
  const times: number[] = [];
  const heaps: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    const began = performance.now();
    await rooms.acquire(account);
    times.push(performance.now() - began);
    gc();
    heaps.push(process.memoryUsage().heapUsed - before);
    rooms.sweep(Number.MAX_SAFE_INTEGER);
  }
  return { loadMs: median(times), heapBytes: median(heaps) };
}

/** One mute toggled by a device under a client ID it owns: receiveUpdate to durable on disk. */
async function measureCommit(account: AccountId, built: Built): Promise<{ commitMs: number; refused: string | null }> {
  const room = await rooms.acquire(account);
  const device = built.bindings.get(built.writer) as DeviceId;
  const member: RoomMember = { device, send() {}, close() {} };
  room.join(member);
  const replica = new Y.Doc();
  Y.applyUpdate(replica, Y.encodeStateAsUpdate(room.doc));
  replica.clientID = built.writer;
  const tracker = new CountsTracker(replica);
  const times: number[] = [];
  let refused: string | null = null;
  const own = new KeyValueArray(replica, deviceRoot(device));
  const thread = longId('m0') as ThreadId;
  for (let run = 0; run < RUNS + 1; run++) {
    const updates: Uint8Array[] = [];
    const listen = (u: Uint8Array) => updates.push(u);
    const stamp = planMute(tracker, thread, device, !tracker.isMuted(thread));
    if (stamp === null) throw new Error('planMute answered no change for a toggle');
    replica.on('update', listen);
    own.set(muteKey(thread), stamp);
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
  const load = await measureLoad(account);
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

/** Snapshot builds and relayed updates timed per figure: each is microseconds, so many. */
const AWARE_RUNS = quick ? 200 : 2_000;
const AWARE = DEFAULT_AWARENESS_BUDGET;
/** Connections an update is relayed to: 8 devices at the default 8 connections each. */
const RELAY_CONNECTIONS = 64;

/** A JSON state of exactly `bytes` UTF-8 bytes (`{"p":"…"}` is 8 bytes plus the padding). */
function stateOf(bytes: number, tag: number): string {
  const pad = `${tag}-${'x'.repeat(bytes)}`.slice(0, bytes - 8);
  return JSON.stringify({ p: pad });
}

interface AwarenessCase {
  readonly name: string;
  readonly shape: string;
  /** Per connection, the states it announces (at most clientsPerConnection). */
  readonly connections: ReadonlyArray<readonly AwarenessChange[]>;
}

function awarenessCase(name: string, states: number, bytes: number): AwarenessCase {
  const all: AwarenessChange[] = Array.from({ length: states }, (_, i) => ({
    clientId: 10_000 + i,
    clock: 1,
    state: stateOf(bytes, i),
  }));
  const connections: AwarenessChange[][] = [];
  for (let i = 0; i < all.length; i += AWARE.clientsPerConnection)
    connections.push(all.slice(i, i + AWARE.clientsPerConnection));
  return { name, shape: `${states} states of ${fmt.bytes(bytes)} on ${connections.length} connections`, connections };
}

const AWARENESS_CASES: readonly AwarenessCase[] = [
  awarenessCase('8 KiB states', AWARE.accountBytes / AWARE.stateBytes, AWARE.stateBytes),
  awarenessCase(
    `${MAX_AWARENESS_CLIENTS} client IDs`,
    MAX_AWARENESS_CLIENTS,
    Math.floor(AWARE.accountBytes / MAX_AWARENESS_CLIENTS),
  ),
];

/** Relays measured together, so one relay's figure is not lost in the heap's noise. */
const HEAP_RELAYS = 10;

/** `count` relays, each holding the states of `updates`, their snapshots cached. */
function filledRelays(count: number, updates: readonly Uint8Array[]): AwarenessRelay[] {
  const relays: AwarenessRelay[] = [];
  for (let r = 0; r < count; r++) {
    const relay = new AwarenessRelay(AWARE);
    for (const update of updates) {
      const answer = relay.apply({}, update, () => 'free');
      if (answer.kind !== 'ok') throw new Error(`the fill was refused: ${answer.reason}`);
    }
    relay.snapshot();
    relays.push(relay);
  }
  return relays;
}

/** Heap and buffers (the snapshot is an ArrayBuffer) after two full GCs. */
function usedBytes(): number {
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Heap a relay holding the case's states keeps, its cached snapshot included: HEAP_RELAYS
 * relays at once, divided, median of RUNS (after one GC the figure varied 3×; after two, ±5 %).
 */
function relayHeap(updates: readonly Uint8Array[]): { heapBytes: number; held: number; size: number } {
  const heaps: number[] = [];
  let held = 0;
  let size = 0;
  for (let run = 0; run < RUNS; run++) {
    const before = usedBytes();
    let relays: AwarenessRelay[] | null = filledRelays(HEAP_RELAYS, updates);
    heaps.push((usedBytes() - before) / HEAP_RELAYS);
    held = relays[0]?.bytes ?? 0;
    size = relays[0]?.size ?? 0;
    relays = null; // dead before the next run's baseline
  }
  return { heapBytes: median(heaps), held, size };
}

/** Time to encode the snapshot after a change: the first joiner or query after it pays this. */
function snapshotBuild(aCase: AwarenessCase): number {
  const relay = new AwarenessRelay(AWARE);
  const owners = aCase.connections.map(() => ({}));
  for (const [i, states] of aCase.connections.entries())
    relay.apply(owners[i] as object, encodeAwarenessChanges(states), () => 'free');
  if (relay.bytes !== AWARE.accountBytes) throw new Error(`the relay holds ${relay.bytes} B, not its budget`);
  const first = aCase.connections[0]?.[0] as AwarenessChange;
  const times: number[] = [];
  for (let run = 0; run < AWARE_RUNS; run++) {
    // The same state under a new clock: a change, so the cached snapshot is stale.
    const update = encodeAwarenessChanges([{ ...first, clock: first.clock + run + 1 }]);
    const answer = relay.apply(owners[0] as object, update, () => 'own');
    if (answer.kind !== 'ok' || answer.relay === null) throw new Error('the change was not accepted');
    const began = performance.now();
    relay.snapshot();
    times.push(performance.now() - began);
  }
  return median(times);
}

interface Counted extends RoomMember {
  bytes: number;
  messages: number;
}

function countingMember(device: DeviceId): Counted {
  const member: Counted = {
    device,
    bytes: 0,
    messages: 0,
    send(message) {
      member.bytes += message.byteLength;
      member.messages++;
    },
    close(code, reason) {
      throw new Error(`a bench connection was closed: ${code} ${reason}`);
    },
  };
  return member;
}

/**
 * The room, its awareness filled through receiveAwareness by the case's connections plus
 * listeners up to RELAY_CONNECTIONS: what a joiner and a query are sent, and one update of
 * the first connection's first state relayed to every connection (median of AWARE_RUNS).
 */
async function roomFigures(
  aCase: AwarenessCase,
): Promise<{ joinerBytes: number; queryBytes: number; relayMs: number; relayBytes: number }> {
  const account = parseAccountId(`budget-awareness-${aCase.name.replace(/\W+/g, '-')}`);
  const room = await rooms.acquire(account);
  const members = Array.from({ length: RELAY_CONNECTIONS }, (_, i) =>
    countingMember(longId(`aw-device${Math.floor(i / 8)}`) as DeviceId),
  );
  for (const member of members) room.join(member);
  for (const [i, states] of aCase.connections.entries()) {
    const answer = room.receiveAwareness(members[i] as Counted, encodeAwarenessChanges(states));
    if (answer.kind !== 'ok') throw new Error(`the fill was refused: ${answer.reason}`);
  }
  await commit.flushed();
  const joiner = countingMember(longId('aw-joiner') as DeviceId);
  room.join(joiner);
  const joinedWith = joiner.bytes;
  room.leave(joiner);
  const asker = members[RELAY_CONNECTIONS - 1] as Counted;
  const askedBefore = asker.bytes;
  room.queryAwareness(asker);
  const queryBytes = asker.bytes - askedBefore;
  // The joiner's step 1 is not awareness: subtract what a join to an empty room sends.
  const empty = await rooms.acquire(parseAccountId('budget-awareness-empty'));
  const bare = countingMember(longId('aw-bare') as DeviceId);
  empty.join(bare);
  empty.leave(bare);
  const joinerBytes = joinedWith - bare.bytes;

  const sender = members[0] as Counted;
  const first = aCase.connections[0]?.[0] as AwarenessChange;
  const times: number[] = [];
  let relayBytes = 0;
  for (let run = 0; run < AWARE_RUNS; run++) {
    const update = encodeAwarenessChanges([{ ...first, clock: first.clock + run + 1 }]);
    const sentBefore = members.reduce((sum, m) => sum + m.bytes, 0);
    const began = performance.now();
    const answer = room.receiveAwareness(sender, update);
    times.push(performance.now() - began);
    if (answer.kind !== 'ok') throw new Error(`the update was refused: ${answer.reason}`);
    relayBytes = members.reduce((sum, m) => sum + m.bytes, 0) - sentBefore;
  }
  for (const member of members) room.leave(member);
  await commit.flushed();
  return { joinerBytes, queryBytes, relayMs: median(times), relayBytes };
}

const awarenessRows: Array<Record<string, string | null>> = [];
for (const aCase of AWARENESS_CASES) {
  const heap = relayHeap(aCase.connections.map((states) => encodeAwarenessChanges(states)));
  const buildMs = snapshotBuild(aCase);
  const room = await roomFigures(aCase);
  awarenessRows.push({
    awareness: aCase.name,
    shape: aCase.shape,
    'states held': `${heap.size} (${fmt.bytes(heap.held)})`,
    'heap held': fmt.bytes(heap.heapBytes),
    'joiner snapshot': fmt.bytes(room.joinerBytes),
    'query answer': fmt.bytes(room.queryBytes),
    'snapshot build µs': fmt.fixed(buildMs * 1_000, 1),
    [`one update → ${RELAY_CONNECTIONS} conns µs`]: fmt.fixed(room.relayMs * 1_000, 1),
    'bytes relayed': fmt.bytes(room.relayBytes),
  });
  data.push({ awareness: aCase.name, shape: aCase.shape, ...heap, buildMs, ...room });
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
          `one change: a device toggles a mute (KeyValueArray.set in its own array) through the write rules and budgets, then the group commit (fsync) — median of ${RUNS}`,
          'v2 layout: BUDGET-6 (live entries of a key in one device array) and BUDGET-7 (muted threads, marker keys, threads) replace v1’s BUDGET-2/BUDGET-3, so the concurrent, mutes and threads + reads rows do not compare with v1’s',
        ],
      },
      {
        title: 'One account with its awareness full (default settings)',
        columns: Object.keys(awarenessRows[0] ?? {}),
        rows: awarenessRows,
        notes: [
          `budgets: ${fmt.bytes(AWARE.stateBytes)} per state, ${fmt.bytes(AWARE.accountBytes)} and ${MAX_AWARENESS_CLIENTS} client IDs per account, ${AWARE.clientsPerConnection} states per connection`,
          `heap held: heap and buffers one AwarenessRelay keeps for the account (its cached snapshot included), after GC — ${HEAP_RELAYS} relays at once, median of ${RUNS}`,
          'joiner snapshot / query answer: the awareness message a joining connection and a query-awareness are sent',
          `snapshot build: encoding the states after a change (later joiners and queries reuse it) — median of ${AWARE_RUNS}`,
          `one update: a connection re-announces one state; the room checks it and sends it to ${RELAY_CONNECTIONS} connections (8 devices × 8) that count bytes — median of ${AWARE_RUNS}`,
        ],
      },
    ],
    [],
    data,
  ),
);
