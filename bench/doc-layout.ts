/**
 * How an account's document grows with use: contract v1's layout (top-level Y.Maps `heads`,
 * `reads` keyed `thread/device`, `mutes`) beside contract v2's (docs/SPEC.md DOC-7..: one
 * append-and-delete key–value array per writer, `v2/heads` and `v2/device/<deviceId>`,
 * written with shared's KeyValueArray exactly as the server and the SDK write them).
 *
 *   node --import tsx bench/doc-layout.ts [--quick]
 *
 * The account: 20 threads × 5 devices. The history, the same for both layouts (seeded):
 * marker updates written interleaved as people read (a random device marks a random
 * thread; a (thread, device)'s marker value rises by one each time it is written), one new
 * item per ten marker updates (the server raises a random thread's head) and one mute
 * toggle per thousand (a random device mutes or unmutes a random thread). Every write is
 * its own transaction under its writer's client ID (each device one session, the server
 * one), applied in order to one replica, as the server's copy sees them when everyone is
 * online. Figures are taken at checkpoints of the one growing history; checkpoint 0 is a
 * fresh account.
 *
 * For each checkpoint: state bytes (Y.encodeStateAsUpdate), state-vector bytes, the heap
 * and RSS a loaded copy of the document holds and the time to load the state into a fresh
 * document (a new device's first sync: apply the state, then for v2 build the shared
 * CountsTracker over it), both measured in a child process with --expose-gc
 * (lib/doc-heap-child.ts), and the writing time per marker update. Before measuring, the
 * state is read back and checked against the history's expected heads, markers and mutes,
 * so a layout that lost data could not look small.
 *
 * A second table: the cost per writer session (each SDK session has a new Yjs client ID)
 * on an account that already holds 10,000 marker updates.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type DeviceId,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  isEntry,
  KeyValueArray,
  muteKey,
  packMarker,
  packMuteStamp,
  type ThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { spawnScript, tempDir } from './lib/children.js';
import { beginResult, emitResult, fmt, type Target } from './lib/report.js';
import { median } from './lib/stats.js';

const THREADS = 20;
const DEVICES = 5;
/** One new item per ten marker updates, as the workload says. */
const UPDATES_PER_ITEM = 10;
/** One mute toggle per thousand marker updates: people mute rarely; the layout must not grow with it either. */
const UPDATES_PER_MUTE = 1_000;
/** The goal for v2 after 1,000,000 marker updates. */
const GOAL_STATE_BYTES = 16 * 1024;
const GOAL_HEAP_BYTES = 1024 * 1024;
const GOAL_UPDATES = 1_000_000;
/** Markers written by each writer session in the session table: a session reads a few threads. */
const MARKERS_PER_SESSION = 3;
/** History under the session table's sessions. */
const SESSION_BASE_UPDATES = 10_000;
/** The heap child holds about this much document at once, so large states load fewer copies. */
const HEAP_CHILD_BUDGET_BYTES = 256 * 1024 * 1024;
/** Heap per state byte used only to choose the copy count (v1 measured ~22×; v2 smaller). */
const HEAP_PER_STATE_BYTE_GUESS = 30;
/** Copies loaded per heap figure: many for small documents (the per-copy figure is then steady), never fewer than 2. */
const MAX_COPIES = 200;
const MIN_COPIES = 2;
/** The heap child of a 1,000,000-update v1 document loads for tens of seconds on a busy machine. */
const CHILD_TIMEOUT_MS = 10 * 60_000;

const result = beginResult('doc-layout', 'Document layout: v1 maps vs v2 per-writer key–value arrays');
const quick = result.mode === 'quick';
/** 0 is a fresh account: what a loaded document costs before anyone reads. */
const CHECKPOINTS = quick ? [0, 10_000, 100_000] : [0, 10_000, 100_000, 1_000_000];
/** Up to 1,000: each session's entries are a run of their own, and the figure per session is steady by then. */
const SESSION_COUNTS = [1, 100, 1_000];

type Layout = 'v1' | 'v2';
const LAYOUTS: readonly Layout[] = ['v1', 'v2'];

const threads = Array.from({ length: THREADS }, (_, i) => `thread-${i}` as ThreadId);
const devices = Array.from({ length: DEVICES }, (_, i) => `device-${i}` as DeviceId);
/**
 * Client IDs as Yjs draws them: random 32-bit numbers (here seeded, and never repeated), so
 * each one costs in the state and the state vector what a real session's does (a 5-byte
 * varint, where a small ID would take 1 or 2).
 */
const clientIdRandom = prng(99);
const usedClientIds = new Set<number>();
function newClientId(): number {
  for (;;) {
    const id = Math.floor(clientIdRandom() * 2 ** 32) >>> 0;
    if (!usedClientIds.has(id)) {
      usedClientIds.add(id);
      return id;
    }
  }
}
/** The server's client ID, and each device's first session's. */
const SERVER_CLIENT = newClientId();
const DEVICE_CLIENTS = devices.map(() => newClientId());
const deviceClient = (device: number) => DEVICE_CLIENTS[device] as number;

/** A deterministic PRNG (mulberry32), so both layouts get the same history. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** v1's `reads` key of a (thread, device): the contract-v1 layout, kept here for the comparison. */
const v1ReadsKey = (thread: ThreadId, device: DeviceId) => `${thread}/${device}`;

/** One layout's writers over one replica. */
interface Account {
  readonly doc: Y.Doc;
  mark(client: number, device: number, thread: number, value: number): void;
  bump(thread: number, head: number): void;
  /** `counter`: the mute's counter (v2's stamp = counter × 2 + muted); v1 stores only the boolean. */
  mute(client: number, device: number, thread: number, muted: boolean, counter: number): void;
}

function v1Account(): Account {
  const doc = new Y.Doc();
  const heads = doc.getMap<number>('heads');
  const reads = doc.getMap<number>('reads');
  const mutes = doc.getMap<boolean>('mutes');
  const as = (client: number, write: () => void) => {
    doc.clientID = client;
    doc.transact(write);
  };
  return {
    doc,
    mark: (client, device, thread, value) =>
      as(client, () => reads.set(v1ReadsKey(threads[thread] as ThreadId, devices[device] as DeviceId), value)),
    bump: (thread, head) => as(SERVER_CLIENT, () => heads.set(threads[thread] as ThreadId, head)),
    mute: (client, _device, thread, muted) => as(client, () => mutes.set(threads[thread] as ThreadId, muted)),
  };
}

/** Contract v2 as the server and the SDK write it: shared's KeyValueArray over the real roots. */
function v2Account(): Account {
  const doc = new Y.Doc();
  const heads = new KeyValueArray(doc, HEADS_ROOT);
  const arrays = devices.map((device) => new KeyValueArray(doc, deviceRoot(device)));
  const array = (device: number) => arrays[device] as KeyValueArray;
  const as = (client: number, write: () => void) => {
    doc.clientID = client;
    doc.transact(write);
  };
  return {
    doc,
    mark: (client, device, thread, value) => as(client, () => array(device).set(threads[thread] as ThreadId, value)),
    bump: (thread, head) => as(SERVER_CLIENT, () => heads.set(threads[thread] as ThreadId, head)),
    mute: (client, device, thread, muted, counter) =>
      as(client, () => array(device).set(muteKey(threads[thread] as ThreadId), packMuteStamp(counter, muted))),
  };
}

const makeAccount = (layout: Layout): Account => (layout === 'v1' ? v1Account() : v2Account());

/** What the history wrote, to check a loaded state against. */
interface Expected {
  readonly markers: number[][];
  readonly heads: number[];
  readonly muted: boolean[];
  /** Each thread's last mute counter (v2's planMute: the largest counter so far + 1). */
  readonly muteCounters: number[];
}

/** Writes the seeded history, `from` → `to` marker updates, into `account`. */
function writeHistory(
  account: Account,
  random: () => number,
  expected: Expected,
  from: number,
  to: number,
  clientOf: (device: number) => number,
): void {
  for (let i = from; i < to; i++) {
    const device = Math.floor(random() * DEVICES);
    const thread = Math.floor(random() * THREADS);
    const row = expected.markers[thread] as number[];
    const value = packMarker(0, (row[device] as number) + 1);
    row[device] = value;
    account.mark(clientOf(device), device, thread, value);
    if (i % UPDATES_PER_ITEM === UPDATES_PER_ITEM - 1) {
      const item = Math.floor(random() * THREADS);
      expected.heads[item] = (expected.heads[item] as number) + 1;
      account.bump(item, expected.heads[item] as number);
    }
    if (i % UPDATES_PER_MUTE === UPDATES_PER_MUTE - 1) {
      const muter = Math.floor(random() * DEVICES);
      const muteThread = Math.floor(random() * THREADS);
      const muted = !expected.muted[muteThread];
      expected.muted[muteThread] = muted;
      const counter = (expected.muteCounters[muteThread] as number) + 1;
      expected.muteCounters[muteThread] = counter;
      account.mute(clientOf(muter), muter, muteThread, muted, counter);
    }
  }
}

function emptyExpected(): Expected {
  return {
    markers: threads.map(() => devices.map(() => 0)),
    heads: threads.map(() => 0),
    muted: threads.map(() => false),
    muteCounters: threads.map(() => 0),
  };
}

/**
 * Every live entry of a v2 array, read as a plain array (not through the tracker, so the
 * check does not trust the code it measures): key → largest val, and how many live
 * entries the array holds.
 */
function readArray(doc: Y.Doc, root: string): { readonly max: Map<string, number>; readonly live: number } {
  const max = new Map<string, number>();
  let live = 0;
  for (const entry of doc.getArray<Entry>(root)) {
    live++;
    if (!isEntry(entry)) continue;
    max.set(entry.key, Math.max(max.get(entry.key) ?? 0, entry.val));
  }
  return { max, live };
}

/** Loads `state` into a fresh replica and throws unless it holds exactly what the history wrote. */
function checkState(layout: Layout, state: Uint8Array, expected: Expected): void {
  const doc = new Y.Doc();
  const problems: string[] = [];
  const check = (what: string, got: unknown, want: unknown) => {
    if (got !== want) problems.push(`${what}: ${String(got)}, expected ${String(want)}`);
  };
  if (layout === 'v1') {
    const heads = doc.getMap<number>('heads');
    const reads = doc.getMap<number>('reads');
    const mutes = doc.getMap<boolean>('mutes');
    Y.applyUpdate(doc, state);
    threads.forEach((t, ti) => {
      check(`head ${t}`, heads.get(t) ?? 0, expected.heads[ti]);
      check(`mute ${t}`, mutes.get(t) ?? false, expected.muted[ti]);
      devices.forEach((d, di) => {
        check(`marker ${t}/${d}`, reads.get(v1ReadsKey(t, d)) ?? 0, expected.markers[ti]?.[di]);
      });
    });
  } else {
    Y.applyUpdate(doc, state);
    const heads = readArray(doc, HEADS_ROOT);
    const arrays = devices.map((d) => readArray(doc, deviceRoot(d)));
    // KeyValueArray replaces: one live entry per key, never a leftover.
    check('live heads entries', heads.live, heads.max.size);
    arrays.forEach((a, di) => {
      check(`live entries of ${devices[di]}`, a.live, a.max.size);
    });
    threads.forEach((t, ti) => {
      check(`head ${t}`, heads.max.get(t) ?? 0, expected.heads[ti]);
      const stamp = Math.max(0, ...arrays.map((a) => a.max.get(muteKey(t)) ?? 0));
      check(`mute ${t}`, stamp % 2 === 1, expected.muted[ti]);
      devices.forEach((d, di) => {
        check(`marker ${t}/${d}`, arrays[di]?.max.get(t) ?? 0, expected.markers[ti]?.[di]);
      });
    });
  }
  doc.destroy();
  if (problems.length > 0) throw new Error(`${layout} state lost data: ${problems.slice(0, 5).join('; ')}`);
}

interface Loaded {
  readonly heapPerDoc: number;
  readonly rssPerDoc: number;
  readonly loadMs: number;
  readonly copies: number;
}

const scratch = tempDir('badgesync-doc-layout-');
let childRuns = 0;

/** Heap and RSS per loaded copy and median load time, measured in a child with --expose-gc. */
async function measureLoad(layout: Layout, state: Uint8Array): Promise<Loaded> {
  const file = path.join(scratch, `state-${childRuns++}.bin`);
  writeFileSync(file, state);
  const copies = Math.max(
    MIN_COPIES,
    Math.min(MAX_COPIES, Math.floor(HEAP_CHILD_BUDGET_BYTES / (state.byteLength * HEAP_PER_STATE_BYTE_GUESS))),
  );
  const child = spawnScript('lib/doc-heap-child.ts', {
    nodeFlags: ['--expose-gc'],
    args: [file, layout, String(copies)],
  });
  let stdout = '';
  child.process.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const timer = setTimeout(() => void child.kill(), CHILD_TIMEOUT_MS);
  const code = await child.exited;
  clearTimeout(timer);
  rmSync(file, { force: true });
  if (code !== 0) throw new Error(`heap child exited ${code}\n${child.stderr()}`);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  const answer = JSON.parse(line) as { heapPerDoc: number; rssPerDoc: number; loadMs: number[] };
  return { heapPerDoc: answer.heapPerDoc, rssPerDoc: answer.rssPerDoc, loadMs: median(answer.loadMs), copies };
}

interface GrowthRow {
  readonly layout: Layout;
  readonly updates: number;
  readonly stateBytes: number;
  readonly stateVectorBytes: number;
  readonly heapPerDoc: number;
  readonly rssPerDoc: number;
  readonly loadMs: number;
  readonly copies: number;
  readonly usPerUpdate: number;
}

async function growth(layout: Layout): Promise<GrowthRow[]> {
  const account = makeAccount(layout);
  const random = prng(10);
  const expected = emptyExpected();
  const rows: GrowthRow[] = [];
  let written = 0;
  for (const checkpoint of CHECKPOINTS) {
    const began = performance.now();
    writeHistory(account, random, expected, written, checkpoint, deviceClient);
    const writeMs = performance.now() - began;
    const segment = checkpoint - written;
    written = checkpoint;
    const state = Y.encodeStateAsUpdate(account.doc);
    checkState(layout, state, expected);
    const loaded = await measureLoad(layout, state);
    rows.push({
      layout,
      updates: checkpoint,
      stateBytes: state.byteLength,
      stateVectorBytes: Y.encodeStateVector(account.doc).byteLength,
      heapPerDoc: loaded.heapPerDoc,
      rssPerDoc: loaded.rssPerDoc,
      loadMs: loaded.loadMs,
      copies: loaded.copies,
      usPerUpdate: segment === 0 ? Number.NaN : (writeMs * 1000) / segment,
    });
    process.stderr.write(
      `${layout} ${fmt.int(checkpoint)}: ${fmt.bytes(state.byteLength)} state, ${fmt.bytes(loaded.heapPerDoc)} heap\n`,
    );
  }
  account.doc.destroy();
  return rows;
}

interface SessionRow {
  readonly layout: Layout;
  readonly sessions: number;
  readonly stateBytes: number;
  readonly stateVectorBytes: number;
  readonly heapPerDoc: number;
  readonly perSessionStateBytes: number;
  readonly perSessionHeapBytes: number;
}

/** An account with SESSION_BASE_UPDATES behind it, then `sessions` sessions of a random device, each a new client ID writing a few markers. */
async function sessionsRows(layout: Layout): Promise<SessionRow[]> {
  const base = makeAccount(layout);
  const random = prng(20);
  const expected = emptyExpected();
  writeHistory(base, random, expected, 0, SESSION_BASE_UPDATES, deviceClient);
  const baseState = Y.encodeStateAsUpdate(base.doc);
  const baseLoad = await measureLoad(layout, baseState);
  const rows: SessionRow[] = [
    {
      layout,
      sessions: 0,
      stateBytes: baseState.byteLength,
      stateVectorBytes: Y.encodeStateVector(base.doc).byteLength,
      heapPerDoc: baseLoad.heapPerDoc,
      perSessionStateBytes: Number.NaN,
      perSessionHeapBytes: Number.NaN,
    },
  ];
  base.doc.destroy();
  for (const sessions of SESSION_COUNTS) {
    const account = makeAccount(layout);
    Y.applyUpdate(account.doc, baseState);
    const sessionRandom = prng(30 + sessions);
    const marks = expected.markers.map((row) => [...row]);
    for (let s = 0; s < sessions; s++) {
      const client = newClientId();
      const device = Math.floor(sessionRandom() * DEVICES);
      for (let m = 0; m < MARKERS_PER_SESSION; m++) {
        const thread = Math.floor(sessionRandom() * THREADS);
        const row = marks[thread] as number[];
        const value = packMarker(0, (row[device] as number) + 1);
        row[device] = value;
        account.mark(client, device, thread, value);
      }
    }
    const state = Y.encodeStateAsUpdate(account.doc);
    checkState(layout, state, { ...expected, markers: marks });
    const loaded = await measureLoad(layout, state);
    rows.push({
      layout,
      sessions,
      stateBytes: state.byteLength,
      stateVectorBytes: Y.encodeStateVector(account.doc).byteLength,
      heapPerDoc: loaded.heapPerDoc,
      perSessionStateBytes: (state.byteLength - baseState.byteLength) / sessions,
      perSessionHeapBytes: (loaded.heapPerDoc - baseLoad.heapPerDoc) / sessions,
    });
    account.doc.destroy();
  }
  return rows;
}

async function main(): Promise<void> {
  const growthRows: GrowthRow[] = [];
  for (const layout of LAYOUTS) growthRows.push(...(await growth(layout)));
  const sessionRows: SessionRow[] = [];
  for (const layout of LAYOUTS) sessionRows.push(...(await sessionsRows(layout)));

  const atGoal = growthRows.find((r) => r.layout === 'v2' && r.updates === GOAL_UPDATES);
  const largestV2 = growthRows.filter((r) => r.layout === 'v2').at(-1);
  const stateMet = atGoal === undefined ? null : atGoal.stateBytes <= GOAL_STATE_BYTES;
  const heapMet = atGoal === undefined ? null : atGoal.heapPerDoc <= GOAL_HEAP_BYTES;
  const goalLine =
    atGoal === undefined
      ? `Goal (v2 after ${fmt.int(GOAL_UPDATES)} marker updates: ≤ 16 KB state, ≤ 1 MB heap): not measured in quick mode; at ${fmt.int(largestV2?.updates)}: ${fmt.bytes(largestV2?.stateBytes)} state, ${fmt.bytes(largestV2?.heapPerDoc)} heap`
      : `Goal (v2 after ${fmt.int(GOAL_UPDATES)} marker updates: ≤ 16 KB state, ≤ 1 MB heap): ${stateMet && heapMet ? 'MET' : 'NOT MET'} — ${fmt.bytes(atGoal.stateBytes)} state (${stateMet ? 'met' : 'not met'}), ${fmt.bytes(atGoal.heapPerDoc)} heap (${heapMet ? 'met' : 'not met'})`;
  process.stderr.write(`${goalLine}\n`);
  const measuredAtGoal = (what: string) =>
    atGoal === undefined ? `not measured in quick mode (${fmt.int(largestV2?.updates)} at most)` : what;
  const targets: Target[] = [
    {
      target: 'v2: ≤ 16 KB of state after 1,000,000 marker updates (20 threads × 5 devices)',
      measured: measuredAtGoal(fmt.bytes(atGoal?.stateBytes) ?? ''),
      met: stateMet,
    },
    {
      target: 'v2: ≤ 1 MB heap of the loaded document after 1,000,000 marker updates',
      measured: measuredAtGoal(fmt.bytes(atGoal?.heapPerDoc) ?? ''),
      met: heapMet,
    },
  ];

  const growthTable = {
    title: `State and heap of a 20-thread × 5-device account after N marker updates (+ N/${UPDATES_PER_ITEM} items, N/${fmt.int(UPDATES_PER_MUTE)} mute toggles)`,
    columns: [
      'layout',
      'updates',
      'state',
      'state vector',
      'heap of loaded doc',
      'RSS of loaded doc',
      'load (first sync) ms',
      'µs per update',
    ],
    rows: growthRows.map((r) => ({
      layout: r.layout,
      updates: r.updates === 0 ? '0 (fresh account)' : fmt.int(r.updates),
      state: fmt.bytes(r.stateBytes),
      'state vector': fmt.bytes(r.stateVectorBytes),
      'heap of loaded doc': fmt.bytes(r.heapPerDoc),
      'RSS of loaded doc': fmt.bytes(r.rssPerDoc),
      'load (first sync) ms': fmt.ms(r.loadMs),
      'µs per update': fmt.fixed(r.usPerUpdate, 1),
    })),
    notes: [
      goalLine,
      'v1: top-level Y.Maps `heads` (thread → head), `reads` (`thread/device` → marker), `mutes` (thread → boolean).',
      "v2 (docs/SPEC.md DOC-7..): top-level Y.Arrays written with shared KeyValueArray (delete the key's live entries, push {key, val}, one transaction): `v2/heads` (server; thread → head) and `v2/device/<deviceId>` (that device only; thread → marker, and `m/<thread>` → mute stamp = counter × 2 + 1 if muted, counter = the thread's largest + 1).",
      'Each device writes as one Yjs client ID for the whole history here (one session per device); the next table prices more sessions.',
      "Heap and RSS: a child with --expose-gc loads the state into fresh documents and reads heapUsed and rss after a full GC; the figures are per copy (RSS per copy is coarse: the allocator returns pages late). A v2 load is a new device's first sync: apply the state, then build the shared CountsTracker over the document; the tracker stays alive with its copy and is counted in the heap. A v1 load only applies the state (no v1 tracker is built), which flatters v1. Load ms: median of those loads.",
      'µs per update: writing time of that stretch of history (marker updates, items and mutes, one transaction each) divided by its marker updates; the first stretch includes the JIT warming up.',
      'Every measured state was loaded back and checked against the expected heads, markers and mutes (v2: read as plain arrays, exactly one live entry per key) before its figures were taken.',
    ],
  };
  const sessionTable = {
    title: `Cost per writer session: ${fmt.int(SESSION_BASE_UPDATES)} updates of history, then S sessions (new Yjs client ID each) of a random device writing ${MARKERS_PER_SESSION} markers each`,
    columns: [
      'layout',
      'sessions',
      'state',
      'state vector',
      'heap of loaded doc',
      'state per session',
      'heap per session',
    ],
    rows: sessionRows.map((r) => ({
      layout: r.layout,
      sessions: fmt.int(r.sessions),
      state: fmt.bytes(r.stateBytes),
      'state vector': fmt.bytes(r.stateVectorBytes),
      'heap of loaded doc': fmt.bytes(r.heapPerDoc),
      'state per session': Number.isNaN(r.perSessionStateBytes) ? null : fmt.bytes(r.perSessionStateBytes),
      'heap per session': Number.isNaN(r.perSessionHeapBytes) ? null : fmt.bytes(r.perSessionHeapBytes),
    })),
    notes: [
      'Sessions 0 is the account before any extra session; per-session figures are (S sessions − 0 sessions) / S.',
      "A session leaves its client ID (a random 32-bit number, as Yjs draws it) in the state vector and in the structs it wrote; in v2 its entries are a run of their own in its device's array (deleted runs of different client IDs do not merge), so state grows by a few bytes per session for good. The SDK reuses a replica's client ID while it holds the replica's lock (docs/SPEC.md), so sessions are mostly new installs and lost locks.",
      'A small negative figure at 1 session: replacing an entry deletes the old one, whose deleted run then merges with its neighbours, which can save more than the session adds. Heap per session at 1 session is within the noise of the heap figures (a few KB per copy for v2, tens of KB for a 2 MB v1 document).',
    ],
  };
  emitResult(
    result.finish(
      [growthTable, sessionTable],
      [`command: node --import tsx bench/doc-layout.ts${quick ? ' --quick' : ''}`],
      { growth: growthRows, sessions: sessionRows },
      targets,
    ),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`doc-layout: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
