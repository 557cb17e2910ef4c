/**
 * The cost of the counts of a large account: 10,000 threads × 5 devices (a head and 5
 * markers per thread, 60,000 entries), in contract v2's layout (SPEC DOC-7..DOC-13): the
 * heads in `v2/heads`, each device's markers in its own array `v2/device/<device>`.
 *
 *   node --import tsx bench/counts.ts [--quick]
 *
 * - Full derivation: deriveCounts(doc), a scan of the v2 arrays, as a server does when it
 *   loads an account without a tracker.
 * - Incremental: a CountsTracker following single-marker updates applied with Y.applyUpdate,
 *   as the server and every device do for each update. Its baseline, measured in the same
 *   run on the same updates, is Y.applyUpdate into an identical document without a tracker;
 *   the tracker's share is the difference. Both documents have their roots typed as arrays.
 *   Each update is a device's `KeyValueArray.set` of one marker: its previous entry of the
 *   thread deleted, the new one pushed.
 *
 * Each figure is the median of RUNS runs after WARMUP runs; every run of the incremental
 * case starts from a fresh copy of the document and applies the same UPDATES updates.
 */
import { performance } from 'node:perf_hooks';
import {
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  packMarker,
  type ThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { beginResult, emitResult, fmt } from './lib/report.js';
import { median } from './lib/stats.js';

const THREADS = 10_000;
const DEVICES = 5;
const result = beginResult('counts', 'Counts of a 10,000-thread account: full derivation vs. incremental tracking');
const quick = result.mode === 'quick';
/** Runs per figure: the median of 7 is steady to a few percent on a quiet machine. */
const RUNS = quick ? 3 : 7;
/** Runs first discarded, so the JIT has compiled the hot paths. */
const WARMUP = quick ? 1 : 2;
/** Single-marker updates per incremental run: enough that timer resolution does not matter. */
const UPDATES = quick ? 500 : 2_000;

const threads = Array.from({ length: THREADS }, (_, i) => `thread-${i}` as ThreadId);
const devices = Array.from({ length: DEVICES }, (_, i) => `device-${i}` as DeviceId);
/** The account's v2 roots: the server's heads and one array per device. */
const ROOTS = [HEADS_ROOT, ...devices.map((device) => deviceRoot(device))];

/** A deterministic PRNG (mulberry32), so every run builds the same account. */
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

/** The account as the server holds it: heads by the server, each device's markers under its own client ID. */
function buildAccount(): Uint8Array {
  const random = prng(42);
  const heads = threads.map(() => 1 + Math.floor(random() * 500));
  const server = new Y.Doc();
  server.clientID = 1;
  server.transact(() => {
    // Pushed directly, as the devices' markers below: every key is new.
    server.getArray<Entry>(HEADS_ROOT).push(threads.map((thread, i) => ({ key: thread, val: heads[i] as number })));
  });
  const parts = [Y.encodeStateAsUpdate(server)];
  devices.forEach((device, d) => {
    const doc = new Y.Doc();
    doc.clientID = 100 + d;
    // Pushed directly: each key is new in the array, so a set's search for older entries of
    // it would only make the build quadratic.
    const array = doc.getArray<Entry>(deviceRoot(device));
    doc.transact(() => {
      const entries = threads.map((thread, i) => {
        const epoch = random() < 0.05 ? 1 : 0;
        const seq = Math.floor(random() * ((heads[i] as number) + 1));
        return { key: thread, val: packMarker(epoch, seq) };
      });
      array.push(entries);
    });
    parts.push(Y.encodeStateAsUpdate(doc));
  });
  return Y.mergeUpdates(parts);
}

/** A replica of the account, its roots typed as the arrays they are (as every replica's are). */
function load(account: Uint8Array): Y.Doc {
  const doc = new Y.Doc();
  for (const root of ROOTS) doc.getArray(root);
  Y.applyUpdate(doc, account);
  return doc;
}

/** UPDATES updates of one marker each, written by the devices in turn, each raising its marker. */
function markerUpdates(account: Uint8Array): Uint8Array[] {
  const random = prng(7);
  const replicas = devices.map((device, d) => {
    const doc = load(account);
    doc.clientID = 100 + d;
    return { device, doc };
  });
  const updates: Uint8Array[] = [];
  for (let i = 0; i < UPDATES; i++) {
    const replica = replicas[i % DEVICES] as (typeof replicas)[number];
    const thread = threads[Math.floor(random() * THREADS)] as ThreadId;
    const array = replica.doc.getArray<Entry>(deviceRoot(replica.device));
    const own = array.toArray().find((entry) => entry.key === thread)?.val ?? 0;
    const capture = (update: Uint8Array) => updates.push(update);
    replica.doc.once('update', capture);
    new KeyValueArray(replica.doc, deviceRoot(replica.device)).set(thread, own + 1);
  }
  return updates;
}

/** Median milliseconds of `fn` over RUNS runs after WARMUP runs; `setup` runs untimed before each. */
function measure<T>(setup: () => T, fn: (input: T) => void): { medianMs: number; runsMs: number[] } {
  const runsMs: number[] = [];
  for (let run = 0; run < WARMUP + RUNS; run++) {
    const input = setup();
    const began = performance.now();
    fn(input);
    const took = performance.now() - began;
    if (run >= WARMUP) runsMs.push(took);
  }
  return { medianMs: median(runsMs), runsMs };
}

const buildBegan = performance.now();
const account = buildAccount();
const base = load(account);
const buildMs = performance.now() - buildBegan;
const entries = ROOTS.reduce((n, root) => n + base.getArray(root).length, 0);
const expected = deriveCounts(base);
const updates = markerUpdates(account);

const derive = measure(
  () => base,
  (doc) => {
    if (deriveCounts(doc).badge !== expected.badge) throw new Error('deriveCounts changed its answer');
  },
);
const construct = measure(
  () => load(account),
  (doc) => {
    new CountsTracker(doc);
  },
);
/**
 * The incremental case against its baseline, in pairs: each run applies the updates to a
 * plain copy and to a tracked copy back to back (alternating which goes first), so load
 * from elsewhere on the machine hits both alike.
 */
function paired(): { applyOnly: number[]; applyTracked: number[]; tracker: CountsTracker } {
  const applyOnly: number[] = [];
  const applyTracked: number[] = [];
  let tracker: CountsTracker | undefined;
  for (let run = 0; run < WARMUP + RUNS; run++) {
    for (const tracked of run % 2 === 0 ? [false, true] : [true, false]) {
      const doc = load(account);
      if (tracked) tracker = new CountsTracker(doc);
      const began = performance.now();
      for (const update of updates) Y.applyUpdate(doc, update);
      const took = performance.now() - began;
      if (run >= WARMUP) (tracked ? applyTracked : applyOnly).push(took);
    }
  }
  return { applyOnly, applyTracked, tracker: tracker as CountsTracker };
}

const pairs = paired();
const applyOnly = { medianMs: median(pairs.applyOnly), runsMs: pairs.applyOnly };
const applyTracked = { medianMs: median(pairs.applyTracked), runsMs: pairs.applyTracked };
const trackerShares = pairs.applyTracked.map((ms, i) => ms - (pairs.applyOnly[i] as number));
const tracked = pairs.tracker;
// The tracker followed every update: it must still agree with a full derivation.
const last = tracked;
const finalDoc = load(account);
for (const update of updates) Y.applyUpdate(finalDoc, update);
if (JSON.stringify(last.counts()) !== JSON.stringify(deriveCounts(finalDoc))) {
  throw new Error('the tracker disagrees with deriveCounts after the updates');
}

const perUpdateUs = (ms: number) => (ms * 1000) / UPDATES;
const applyUs = perUpdateUs(applyOnly.medianMs);
const trackedUs = perUpdateUs(applyTracked.medianMs);
/** Median of the per-pair differences: steadier than the difference of the medians. */
const trackerUs = perUpdateUs(median(trackerShares));
const deriveMs = derive.medianMs;

const table = {
  title: `${THREADS.toLocaleString('en')} threads × ${DEVICES} devices (${entries.toLocaleString('en')} entries), median of ${RUNS} runs`,
  columns: ['measurement', 'median', 'unit'],
  rows: [
    { measurement: 'deriveCounts: full derivation', median: fmt.ms(deriveMs), unit: 'ms' },
    { measurement: 'new CountsTracker: initial scan', median: fmt.ms(construct.medianMs), unit: 'ms' },
    { measurement: 'Y.applyUpdate, one marker (baseline)', median: fmt.fixed(applyUs, 2), unit: 'µs / update' },
    { measurement: 'Y.applyUpdate + CountsTracker, one marker', median: fmt.fixed(trackedUs, 2), unit: 'µs / update' },
    { measurement: 'CountsTracker share (difference)', median: fmt.fixed(trackerUs, 2), unit: 'µs / update' },
    {
      measurement: 'full derivation ÷ tracked update',
      median: fmt.int((deriveMs * 1000) / trackedUs),
      unit: '×',
    },
  ],
  notes: [
    `${UPDATES.toLocaleString('en')} single-marker updates per incremental run, each applied with Y.applyUpdate to a fresh copy of the account.`,
    'The tracker share is the median of the per-run differences between the tracked and the plain copy, run back to back.',
    `Building the account took ${fmt.ms(buildMs)} ms (not measured above).`,
  ],
};

emitResult(
  result.finish([table], [], {
    threads: THREADS,
    devices: DEVICES,
    entries,
    runs: RUNS,
    warmup: WARMUP,
    updates: UPDATES,
    badge: expected.badge,
    deriveCountsMs: derive,
    trackerConstructionMs: construct,
    applyOnlyMs: applyOnly,
    applyTrackedMs: applyTracked,
    perUpdateUs: { applyOnly: applyUs, applyTracked: trackedUs, tracker: trackerUs },
  }),
);
