/**
 * The incremental tracker against full derivations, on random v2 histories: several devices
 * (one with concurrent sessions writing the same keys), the server's heads and reads, mark as
 * unread, mutes toggled from several devices concurrently, stray content the derivation
 * ignores, and updates delivered in any order, duplicated, with pending structs.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { CountsTracker, type DeviceId, deriveCounts, type ThreadId } from '../src/index.js';
import { Rng } from './helpers/rng.js';
import { propertyParams } from './helpers/seed.js';
import { reference, type Session, syncPair, THREADS, V2Mesh, type V2Op } from './helpers/v2-mesh.js';

const LAYOUT = [2, 1, 2]; // devices d0 and d2 run two sessions each
const SESSIONS = 1 + LAYOUT.reduce((a, b) => a + b, 0);
const s = fc.nat({ max: SESSIONS - 1 });
const thread = fc.nat({ max: THREADS.length - 1 });

const op: fc.Arbitrary<V2Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('head' as const), thread, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('read' as const), s, thread, seq: fc.nat({ max: 14 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('unread' as const), s, thread, from: fc.integer({ min: 1, max: 14 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('allRead' as const), s }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mute' as const), s, thread, muted: fc.boolean() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('deliver' as const),
      from: s,
      to: s,
      picks: fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('sync' as const), a: s, b: s }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stray' as const), what: fc.nat({ max: 5 }), thread }) },
);

const history = fc.record({
  clientIds: fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { minLength: SESSIONS, maxLength: SESSIONS }),
  ops: fc.array(op, { minLength: 10, maxLength: 100, size: 'max' }),
  seed: fc.integer(),
});

function sortedEntries(map: ReadonlyMap<DeviceId, number> | undefined): Array<[string, number]> {
  return [...(map ?? new Map<DeviceId, number>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Every answer of the tracker equals the reference reading of its document. */
function assertTrackerMatches(tracker: CountsTracker, doc: Y.Doc): void {
  const derived = deriveCounts(doc);
  assert.deepEqual(tracker.counts(), derived);
  const ref = reference(doc);
  const threads = new Set<ThreadId>([...ref.heads.keys(), ...ref.markers.keys(), ...ref.stamps.keys(), ...THREADS]);
  for (const t of threads) {
    assert.equal(tracker.head(t), ref.heads.get(t) ?? 0, `head ${t}`);
    const markers = ref.markers.get(t);
    assert.deepEqual(sortedEntries(tracker.markers(t)), sortedEntries(markers), `markers ${t}`);
    assert.equal(tracker.maxMarker(t), Math.max(0, ...(markers?.values() ?? [])), `maxMarker ${t}`);
    const stamps = ref.stamps.get(t);
    assert.deepEqual(sortedEntries(tracker.muteStamps(t)), sortedEntries(stamps), `muteStamps ${t}`);
    const s = Math.max(0, ...(stamps?.values() ?? []));
    assert.equal(tracker.muteStamp(t), s, `muteStamp ${t}`);
    assert.equal(tracker.isMuted(t), s % 2 === 1, `isMuted ${t}`);
  }
  assert.deepEqual([...tracker.threadsWithHead()].sort(), [...ref.heads.keys()].sort());
  assert.equal(tracker.threadCount, ref.heads.size);
  let markerKeys = 0;
  for (const devices of ref.markers.values()) markerKeys += devices.size;
  assert.equal(tracker.markerKeyCount, markerKeys);
  assert.equal(tracker.muteThreadCount, ref.stamps.size);
  for (const [root, byKey] of ref.live) {
    if (!root.startsWith('v2/device/')) continue;
    const device = root.slice('v2/device/'.length) as DeviceId;
    for (const [key, values] of byKey) {
      const live = tracker.liveEntries(device, key).map((e) => e.val);
      assert.deepEqual(
        live.sort((a, b) => a - b),
        values,
        `liveEntries ${root} ${key}`,
      );
    }
  }
}

/** Checks after every transaction of every session's doc; answers the stop function. */
function checkEveryTransaction(mesh: V2Mesh, check: (session: Session) => void): void {
  for (const session of mesh.sessions) session.doc.on('afterTransaction', () => check(session));
}

/**
 * Checks [COUNT-9] after every transaction of every session with nothing pending: neither
 * m(t) nor any device's marker is below what the session showed before.
 */
function checkNoLostRead(mesh: V2Mesh): void {
  const last = new Map<Session, Map<ThreadId, number>>();
  checkEveryTransaction(mesh, (session) => {
    if (session.pending) return;
    const seen = last.get(session) ?? new Map<ThreadId, number>();
    last.set(session, seen);
    for (const t of THREADS) {
      const now = session.tracker.maxMarker(t);
      const before = seen.get(t) ?? 0;
      assert.ok(now >= before, `${t}: m(t) fell from ${before} to ${now}`);
      seen.set(t, now);
      // Each device's own marker never falls either: a set deletes only what it beats.
      for (const [device, marker] of session.tracker.markers(t)) {
        const key = `${t}/${device}` as ThreadId;
        assert.ok(marker >= (seen.get(key) ?? 0), `${key}: marker fell`);
        seen.set(key, marker);
      }
    }
  });
}

function run(ops: readonly V2Op[], mesh: V2Mesh, rng: Rng): void {
  for (const o of ops) mesh.apply(o, rng);
}

describe('CountsTracker on random v2 histories', () => {
  test('[COUNT-12] [COUNT-7] the tracker equals the full derivation after every transaction', () => {
    fc.assert(
      fc.property(history, ({ clientIds, ops, seed }) => {
        const mesh = new V2Mesh(LAYOUT, clientIds);
        let checks = 0;
        checkEveryTransaction(mesh, (session) => {
          checks++;
          assertTrackerMatches(session.tracker, session.doc);
        });
        run(ops, mesh, new Rng(seed));
        // Finally everyone has everything: the trackers still agree.
        for (const a of mesh.sessions) for (const b of mesh.sessions) if (a !== b) syncPair(a.doc, b.doc);
        assert.ok(checks > 0);
      }),
      propertyParams('tracker equals derivation', 60),
    );
  });

  test('[COUNT-7] a tracker made on a document already full equals one that followed it', () => {
    fc.assert(
      fc.property(history, ({ clientIds, ops, seed }) => {
        const mesh = new V2Mesh(LAYOUT, clientIds);
        run(ops, mesh, new Rng(seed));
        for (const session of mesh.sessions) {
          const fresh = new CountsTracker(session.doc);
          assert.deepEqual(fresh.counts(), session.tracker.counts());
          assertTrackerMatches(fresh, session.doc);
          fresh.destroy();
        }
      }),
      propertyParams('fresh tracker', 40),
    );
  });

  test('[COUNT-8] replicas that received the same updates in any order and batching derive the same counts', () => {
    fc.assert(
      fc.property(history, fc.integer(), ({ clientIds, ops, seed }, orderSeed) => {
        const mesh = new V2Mesh(LAYOUT, clientIds);
        run(ops, mesh, new Rng(seed));
        const updates = mesh.allUpdates();
        const merged = new Y.Doc();
        Y.applyUpdate(merged, Y.mergeUpdates(updates));
        const expected = deriveCounts(merged);
        const rng = new Rng(orderSeed);
        for (let replica = 0; replica < 3; replica++) {
          const order = [...updates];
          for (let i = order.length - 1; i > 0; i--) {
            const j = rng.int(i + 1);
            [order[i], order[j]] = [order[j] as Uint8Array, order[i] as Uint8Array];
          }
          const doc = new Y.Doc();
          const tracker = new CountsTracker(doc);
          // Some delivered twice, some merged into one batch.
          for (let i = 0; i < order.length; ) {
            const n = 1 + rng.int(3);
            const batch = order.slice(i, i + n);
            Y.applyUpdate(doc, n === 1 ? (batch[0] as Uint8Array) : Y.mergeUpdates(batch));
            if (rng.chance(0.2)) Y.applyUpdate(doc, batch[0] as Uint8Array);
            i += n;
          }
          assert.deepEqual(deriveCounts(doc), expected);
          assert.deepEqual(tracker.counts(), expected);
        }
      }),
      propertyParams('convergence', 40),
    );
  });

  test('[COUNT-9] with nothing pending, neither m(t) nor any device’s marker ever decreases on a replica', () => {
    fc.assert(
      fc.property(history, ({ clientIds, ops, seed }) => {
        const mesh = new V2Mesh(LAYOUT, clientIds);
        checkNoLostRead(mesh);
        run(ops, mesh, new Rng(seed));
      }),
      propertyParams('no lost read', 60),
    );
  });

  test('[COUNT-9] a replica that held the new entry back relays no delete without it', () => {
    // A counterexample of the property (seed 480096807): session 1 lacks the server's head
    // write (clock 2) when the server's mark-as-unread (clock 3: delete marker 1, insert
    // epoch 1) reaches it, so Yjs applies the delete and holds the new entry back; the update
    // session 1 emitted for that transaction is the delete alone. Relayed to session 2, which
    // holds nothing pending, it took m(t0) from 1 to 0.
    const ops: V2Op[] = [
      { k: 'head', thread: 0, n: 1 },
      { k: 'allRead', s: 0 },
      { k: 'sync', a: 0, b: 1 },
      { k: 'head', thread: 0, n: 1 },
      { k: 'unread', s: 0, thread: 0, from: 1 },
      { k: 'deliver', from: 0, to: 1, picks: [3] },
      { k: 'deliver', from: 1, to: 2, picks: [0] },
      { k: 'deliver', from: 1, to: 2, picks: [1] },
    ];
    const mesh = new V2Mesh(LAYOUT, [1, 2, 3, 4, 5, 6]);
    checkNoLostRead(mesh);
    run(ops, mesh, new Rng(0));
    assert.equal(mesh.session(1).pending, true, 'session 1 holds the new entry back');
    assert.equal(mesh.session(2).tracker.maxMarker('t0' as ThreadId), 1);
  });
});
