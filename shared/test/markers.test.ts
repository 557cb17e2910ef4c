import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  CountsTracker,
  checkUpdate,
  type DeviceId,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  MAX_MUTE_COUNTER,
  MAX_MUTE_LEAD,
  type MarkerView,
  muteKey,
  packMarker,
  packMuteStamp,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  SERVER_DEVICE,
  type ThreadId,
  threadEpoch,
  unpackMarker,
} from '../src/index.js';
import { Rng } from './helpers/rng.js';
import { propertyParams } from './helpers/seed.js';
import { THREADS, V2Mesh, type V2Op } from './helpers/v2-mesh.js';

const T = 't' as ThreadId;
const ME = 'me' as DeviceId;
const OTHER = 'other' as DeviceId;

/** A MarkerView over plain data: heads by thread, markers and mute stamps by thread and device. */
function view(
  heads: Record<string, number>,
  markers: Record<string, Record<string, number>> = {},
  stamps: Record<string, Record<string, number>> = {},
): MarkerView {
  const byThread = (t: string) => new Map(Object.entries(markers[t] ?? {})) as Map<DeviceId, number>;
  const stampsOf = (t: string) => new Map(Object.entries(stamps[t] ?? {})) as Map<DeviceId, number>;
  const muteStamp = (t: ThreadId) => Math.max(0, ...stampsOf(t).values());
  return {
    head: (t) => heads[t] ?? 0,
    maxMarker: (t) => Math.max(0, ...byThread(t).values()),
    markers: byThread,
    muteStamp,
    muteStamps: stampsOf,
    isMuted: (t) => muteStamp(t) % 2 === 1,
    threadsWithHead: () => Object.keys(heads) as ThreadId[],
    liveEntries: () => [],
  };
}

describe('planRead', () => {
  test('[MARK-1] reads up to seq in the thread’s current epoch', () => {
    assert.equal(planRead(view({ t: 10 }), T, ME, 4), 4);
    assert.equal(planRead(view({ t: 10 }, { t: { [OTHER]: packMarker(2, 1) } }), T, ME, 4), packMarker(2, 4));
  });

  test('[MARK-1] clamps to the head', () => {
    assert.equal(planRead(view({ t: 10 }), T, ME, 99), 10);
    assert.equal(planRead(view({ t: 10 }, { t: { [OTHER]: packMarker(1, 0) } }), T, ME, 99), packMarker(1, 10));
  });

  test('[MARK-1] never lowers: null when the thread is read that far already, by anyone', () => {
    const v = view({ t: 10 }, { t: { [ME]: 6, [OTHER]: 8 } });
    assert.equal(planRead(v, T, ME, 5), null);
    assert.equal(planRead(v, T, ME, 8), null);
    assert.equal(planRead(v, T, ME, 9), 9);
    // a thread without a head counts as head 0: nothing to read
    assert.equal(planRead(view({}), T, ME, 3), null);
  });

  test('[MARK-1] a read in an older epoch than the thread’s is never planned', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(0, 9), [OTHER]: packMarker(1, 2) } });
    assert.equal(threadEpoch(v, T), 1);
    assert.equal(planRead(v, T, ME, 9), packMarker(1, 9));
  });

  test('[MARK-1] a seq that is not an integer ≥ 0 is a RangeError', () => {
    for (const seq of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => planRead(view({ t: 10 }), T, ME, seq), RangeError);
    }
  });
});

describe('planUnread', () => {
  test('[MARK-2] marks unread from an item: epoch E + 1, seq fromSeq − 1', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(0, 10), [OTHER]: packMarker(0, 7) } });
    assert.equal(planUnread(v, T, ME, 4), packMarker(1, 3));
    assert.equal(planUnread(v, T, ME, 1), packMarker(1, 0));
  });

  test('[MARK-2] the new epoch beats every marker of the older one', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(3, 10), [OTHER]: packMarker(3, 9) } });
    const value = planUnread(v, T, ME, 6) as number;
    assert.deepEqual(unpackMarker(value), { epoch: 4, seq: 5 });
    assert.ok(value > packMarker(3, 10));
  });

  test('[MARK-2] null when nothing would become unread: from beyond the head, or from an item that is unread already', () => {
    const v = view({ t: 10 }, { t: { [OTHER]: packMarker(0, 3) } });
    assert.equal(planUnread(v, T, ME, 11), null);
    assert.equal(planUnread(v, T, ME, 50), null);
    // items 4..10 are unread: marking 8..10 unread would read 4..7 instead
    assert.equal(planUnread(v, T, ME, 8), null);
    assert.equal(planUnread(v, T, ME, 5), null);
    assert.equal(planUnread(v, T, ME, 4), null);
    assert.equal(planUnread(v, T, ME, 3), packMarker(1, 2));
    assert.equal(planUnread(view({}), T, ME, 1), null);
  });

  test('[MARK-2] fromSeq that is not an integer ≥ 1 is a RangeError', () => {
    for (const fromSeq of [0, -1, 2.5, Number.NaN]) {
      assert.throws(() => planUnread(view({ t: 10 }, { t: { [ME]: 10 } }), T, ME, fromSeq), RangeError);
    }
  });

  test('[MARK-3] at most MAX_EPOCH_LEAD epochs above the other devices’ markers', () => {
    const atLimit = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD - 1, 10), [OTHER]: packMarker(0, 10) } });
    assert.equal(planUnread(atLimit, T, ME, 5), packMarker(MAX_EPOCH_LEAD, 4));
    const over = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD, 10), [OTHER]: packMarker(0, 10) } });
    assert.throws(() => planUnread(over, T, ME, 5), /sync first/);
    // another device (or the server's API) in a newer epoch lifts the limit
    const lifted = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD, 10), [SERVER_DEVICE]: packMarker(3, 10) } });
    assert.equal(planUnread(lifted, T, ME, 5), packMarker(MAX_EPOCH_LEAD + 1, 4));
  });

  test('[MARK-3] never beyond MAX_EPOCH', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH, 10), [OTHER]: packMarker(MAX_EPOCH, 10) } });
    assert.throws(() => planUnread(v, T, ME, 5), RangeError);
  });
});

describe('planAllRead', () => {
  test('[MARK-4] every thread with unread items: current epoch, seq = head; nothing for read threads', () => {
    const v = view(
      { a: 5, b: 3, c: 7, d: 0 },
      { a: { [OTHER]: packMarker(2, 1) }, b: { [ME]: 3 }, c: { [ME]: packMarker(0, 7), [OTHER]: packMarker(1, 2) } },
    );
    const writes = planAllRead(v, ME).sort((x, y) => (x.thread < y.thread ? -1 : 1));
    assert.deepEqual(writes, [
      { thread: 'a', value: packMarker(2, 5) },
      { thread: 'c', value: packMarker(1, 7) },
    ]);
    assert.deepEqual(planAllRead(view({}), ME), []);
  });
});

describe('planMute', () => {
  const stamp = packMuteStamp;

  test('[MARK-6] the first mute is counter 1, stamp 3; each change raises the counter of S(t) by one', () => {
    assert.equal(planMute(view({}), T, ME, true), 3);
    assert.equal(planMute(view({}, {}, { t: { [OTHER]: stamp(1, true) } }), T, ME, false), stamp(2, false));
    assert.equal(
      planMute(view({}, {}, { t: { [OTHER]: stamp(4, false), [ME]: stamp(2, true) } }), T, ME, true),
      stamp(5, true),
    );
    // S(t) decides, not the device's own stamp.
    assert.equal(
      planMute(view({}, {}, { t: { [ME]: stamp(1, true), [OTHER]: stamp(3, true) } }), T, ME, false),
      stamp(4, false),
    );
  });

  test('[MARK-6] null when the thread is already in that state', () => {
    assert.equal(planMute(view({}), T, ME, false), null);
    assert.equal(planMute(view({}, {}, { t: { [OTHER]: stamp(2, true) } }), T, ME, true), null);
    assert.equal(planMute(view({}, {}, { t: { [OTHER]: stamp(2, false) } }), T, ME, false), null);
    // An equal counter: muted wins, so this thread is muted.
    assert.equal(planMute(view({}, {}, { t: { [OTHER]: stamp(2, false), [ME]: stamp(2, true) } }), T, ME, true), null);
  });

  test('[MARK-7] at most MAX_MUTE_LEAD counters above the other devices’ stamps, never past MAX_MUTE_COUNTER', () => {
    const atLimit = view({}, {}, { t: { [ME]: stamp(MAX_MUTE_LEAD - 1, true) } });
    assert.equal(planMute(atLimit, T, ME, false), stamp(MAX_MUTE_LEAD, false));
    const over = view({}, {}, { t: { [ME]: stamp(MAX_MUTE_LEAD, true) } });
    assert.throws(() => planMute(over, T, ME, false), /sync first/);
    // Another device's stamp (or the server's) lifts the limit.
    const lifted = view({}, {}, { t: { [ME]: stamp(MAX_MUTE_LEAD, true), [SERVER_DEVICE]: stamp(2, true) } });
    assert.equal(planMute(lifted, T, ME, false), stamp(MAX_MUTE_LEAD + 1, false));
    const top = view({}, {}, { t: { [ME]: stamp(MAX_MUTE_COUNTER, true), [OTHER]: stamp(MAX_MUTE_COUNTER, true) } });
    assert.throws(() => planMute(top, T, ME, false), RangeError);
  });
});

const LAYOUT = [2, 1];
const SESSIONS = 1 + 3;
const s = fc.nat({ max: SESSIONS - 1 });
const thread = fc.nat({ max: THREADS.length - 1 });
const op: fc.Arbitrary<V2Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant('head' as const), thread, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('read' as const), s, thread, seq: fc.nat({ max: 14 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('unread' as const), s, thread, from: fc.integer({ min: 1, max: 14 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('allRead' as const), s }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('mute' as const), s, thread, muted: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('sync' as const), a: s, b: s }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('deliver' as const),
      from: s,
      to: s,
      picks: fc.array(fc.nat({ max: 60 }), { minLength: 1, maxLength: 3 }),
    }),
  },
);

describe('planners never lower', () => {
  test('[MARK-1] [MARK-2] [MARK-4] [MARK-6] an answer beats the device’s own largest value and m(t) or S(t)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 31 - 1 }), { minLength: SESSIONS, maxLength: SESSIONS }),
        fc.array(op, { minLength: 5, maxLength: 80 }),
        fc.integer(),
        (clientIds, ops, seed) => {
          const mesh = new V2Mesh(LAYOUT, clientIds);
          const rng = new Rng(seed);
          for (const o of ops) {
            if (o.k === 'read' || o.k === 'unread' || o.k === 'mute' || o.k === 'allRead') {
              const session = mesh.session(o.s);
              const v = session.tracker;
              const threads = o.k === 'allRead' ? THREADS : [THREADS[o.thread] as ThreadId];
              const before = threads.map((t) => ({
                t,
                own: v.markers(t).get(session.device) ?? 0,
                max: v.maxMarker(t),
                s: v.muteStamp(t),
              }));
              let planned: Array<{ t: ThreadId; value: number; mute: boolean }> = [];
              try {
                if (o.k === 'read') {
                  const value = planRead(v, before[0]?.t as ThreadId, session.device, o.seq);
                  if (value !== null) planned = [{ t: before[0]?.t as ThreadId, value, mute: false }];
                } else if (o.k === 'unread') {
                  const value = planUnread(v, before[0]?.t as ThreadId, session.device, o.from);
                  if (value !== null) planned = [{ t: before[0]?.t as ThreadId, value, mute: false }];
                } else if (o.k === 'mute') {
                  const value = planMute(v, before[0]?.t as ThreadId, session.device, o.muted);
                  if (value !== null) planned = [{ t: before[0]?.t as ThreadId, value, mute: true }];
                } else {
                  planned = planAllRead(v, session.device).map((w) => ({ t: w.thread, value: w.value, mute: false }));
                }
              } catch (error) {
                assert.ok(error instanceof RangeError);
              }
              for (const { t, value, mute } of planned) {
                const was = before.find((b) => b.t === t);
                assert.ok(was !== undefined);
                if (mute) assert.ok(value > was.s, `stamp ${value} ≤ S ${was.s}`);
                else assert.ok(value > was.own && value > was.max, `${value} ≤ own ${was.own} / max ${was.max}`);
              }
            }
            mesh.apply(o, rng);
            // After the write the device's largest value is at least what it was.
          }
          for (const session of mesh.sessions) {
            for (const t of THREADS) {
              const own = session.tracker.liveEntries(session.device, t).map((e) => e.val);
              assert.equal(Math.max(0, ...own), session.tracker.markers(t).get(session.device) ?? 0);
            }
          }
        },
      ),
      propertyParams('planners never lower', 100),
    );
  });
});

/**
 * The server as the rules expect to run it, for MARK-5: checks each device update against its
 * own document and tracker, binds new client IDs, applies.
 */
class Server {
  readonly doc = new Y.Doc();
  readonly tracker = new CountsTracker(this.doc);
  readonly bindings = new Map<number, DeviceId>([[this.doc.clientID, SERVER_DEVICE]]);

  ingest(thread: ThreadId, n: number): void {
    new KeyValueArray(this.doc, HEADS_ROOT).set(thread, this.tracker.head(thread) + n);
  }

  apiRead(thread: ThreadId, seq: number): void {
    const value = planRead(this.tracker, thread, SERVER_DEVICE, seq);
    if (value !== null) new KeyValueArray(this.doc, deviceRoot(SERVER_DEVICE)).set(thread, value);
  }

  receive(device: DeviceId, update: Uint8Array): void {
    const verdict = checkUpdate({ doc: this.doc, view: this.tracker, bindings: this.bindings }, device, update);
    assert.equal(verdict.kind, 'accept', JSON.stringify(verdict));
    if (verdict.kind !== 'accept') return;
    for (const client of verdict.newClients) this.bindings.set(client, device);
    Y.applyUpdate(this.doc, update);
  }
}

class Replica {
  readonly doc = new Y.Doc();
  readonly tracker = new CountsTracker(this.doc);
  readonly own: KeyValueArray;
  #local: Uint8Array[] = [];

  constructor(readonly id: DeviceId) {
    this.own = new KeyValueArray(this.doc, deviceRoot(id));
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== 'server') this.#local.push(update);
    });
  }

  pull(server: Server): void {
    Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(server.doc, Y.encodeStateVector(this.doc)), 'server');
  }

  /** What this replica wrote since the last take, as one update. */
  take(): Uint8Array | null {
    if (this.#local.length === 0) return null;
    const update = Y.mergeUpdates(this.#local);
    this.#local = [];
    return update;
  }
}

describe('planners against the write rules', () => {
  test('[MARK-5] a value a synced replica plans passes the write rules of the server', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 40 }), (seed, steps) => {
        const rng = new Rng(seed);
        const server = new Server();
        const devices = [new Replica('d1' as DeviceId), new Replica('d2' as DeviceId)];
        const threads = ['t1', 't2'] as ThreadId[];
        for (let i = 0; i < steps; i++) {
          const thread = rng.pick(threads);
          if (rng.chance(0.25)) {
            server.ingest(thread, rng.range(1, 4));
            continue;
          }
          if (rng.chance(0.1)) {
            server.apiRead(thread, rng.int(server.tracker.head(thread) + 2));
            continue;
          }
          const device = rng.pick(devices);
          device.pull(server);
          const v = device.tracker;
          const head = v.head(thread);
          const draw = rng.next();
          try {
            if (draw < 0.3) {
              const value = planUnread(v, thread, device.id, rng.range(1, head + 1));
              if (value !== null) device.own.set(thread, value);
            } else if (draw < 0.45) {
              device.doc.transact(() => {
                for (const w of planAllRead(v, device.id)) device.own.set(w.thread, w.value);
              });
            } else if (draw < 0.65) {
              const value = planMute(v, thread, device.id, rng.chance(0.5));
              if (value !== null) device.own.set(muteKey(thread), value);
            } else {
              const value = planRead(v, thread, device.id, rng.int(head + 3));
              if (value !== null) device.own.set(thread, value);
            }
          } catch (err) {
            assert.ok(err instanceof RangeError);
          }
          const update = device.take();
          if (update !== null) server.receive(device.id, update);
        }
      }),
      propertyParams('planners vs rules', 200),
    );
  });
});
