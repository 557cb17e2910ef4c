/**
 * Invariants 1 and 2 of the design on the v2 document: sessions (two of one device among
 * them) write through the planners and KeyValueArray and sync in any pattern; at every step
 * each replica's counts equal those of a plain model of the writes (each set deletes the
 * entries of its key its session had seen, then adds one), and old updates arriving late
 * lower no read. No write rules run here: these are properties of the document model itself.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  type AccountCounts,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  EPOCH_FACTOR,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  packMarker,
  planMute,
  planRead,
  planUnread,
  SERVER_DEVICE,
  type ThreadId,
} from '../src/index.js';
import { propertyParams } from './helpers/seed.js';
import { Session, syncPair, THREADS } from './helpers/v2-mesh.js';

/** One set, as the model sees it: what it wrote and which earlier writes it deleted. */
interface Write {
  readonly id: number;
  readonly root: string;
  readonly key: string;
  readonly val: number;
  readonly deletes: readonly number[];
}

/** The plain model: every write ever made, and which writes each session has seen. */
class Model {
  readonly writes: Write[] = [];
  readonly known = new Map<Session, Set<number>>();

  #liveIn(ids: Iterable<number>): Write[] {
    const seen = [...ids].map((id) => this.writes[id] as Write);
    const deleted = new Set(seen.flatMap((w) => w.deletes));
    return seen.filter((w) => !deleted.has(w.id));
  }

  set(session: Session, root: string, key: string, val: number): void {
    const known = this.known.get(session) ?? new Set<number>();
    this.known.set(session, known);
    const deletes = this.#liveIn(known)
      .filter((w) => w.root === root && w.key === key)
      .map((w) => w.id);
    const write: Write = { id: this.writes.length, root, key, val, deletes };
    this.writes.push(write);
    known.add(write.id);
  }

  sync(a: Session, b: Session): void {
    const union = new Set([...(this.known.get(a) ?? []), ...(this.known.get(b) ?? [])]);
    this.known.set(a, union);
    this.known.set(b, new Set(union));
  }

  /** The counts of what `session` has seen (everything when null), computed plainly. */
  counts(session: Session | null): AccountCounts {
    const live = this.#liveIn(session === null ? this.writes.map((w) => w.id) : (this.known.get(session) ?? []));
    const head = new Map<string, number>();
    const marker = new Map<string, number>();
    const stamp = new Map<string, number>();
    const max = (map: Map<string, number>, k: string, v: number) => map.set(k, Math.max(map.get(k) ?? v, v));
    for (const w of live) {
      if (w.root === HEADS_ROOT) max(head, w.key, w.val);
      else if (w.key.startsWith('m/')) max(stamp, w.key.slice(2), w.val);
      else max(marker, w.key, w.val);
    }
    const muted = [...stamp].filter(([, s]) => s % 2 === 1).map(([t]) => t);
    const threads: Record<string, number> = {};
    let badge = 0;
    for (const t of [...head.keys()].sort()) {
      const unread = Math.max(0, (head.get(t) ?? 0) - ((marker.get(t) ?? 0) % EPOCH_FACTOR));
      threads[t] = unread;
      if (!muted.includes(t)) badge += unread;
    }
    return { badge, threads, muted: muted.sort() };
  }
}

type Op =
  | { k: 'head'; thread: number; n: number }
  | { k: 'read'; s: number; thread: number; seq: number }
  | { k: 'unread'; s: number; thread: number; from: number }
  | { k: 'mute'; s: number; thread: number; muted: boolean }
  | { k: 'sync'; a: number; b: number };

const DEVICES = ['d1', 'd1', 'd2', 'd3'] as DeviceId[]; // d1 runs two sessions
const s = fc.nat({ max: DEVICES.length });
const thread = fc.nat({ max: THREADS.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ k: fc.constant('head' as const), thread, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('read' as const), s, thread, seq: fc.nat({ max: 14 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('unread' as const), s, thread, from: fc.integer({ min: 1, max: 14 }) }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mute' as const), s, thread, muted: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('sync' as const), a: s, b: s }) },
);

function world(clientIds: readonly number[]): Session[] {
  return [SERVER_DEVICE, ...DEVICES].map((device, i) => new Session(device, clientIds[i] as number));
}

function step(sessions: Session[], model: Model, o: Op): void {
  const set = (session: Session, root: string, key: string, val: number) => {
    new KeyValueArray(session.doc, root).set(key, val);
    model.set(session, root, key, val);
  };
  if (o.k === 'sync') {
    const a = sessions[o.a] as Session;
    const b = sessions[o.b] as Session;
    if (a === b) return;
    syncPair(a.doc, b.doc);
    model.sync(a, b);
    return;
  }
  if (o.k === 'head') {
    const server = sessions[0] as Session;
    const t = THREADS[o.thread] as ThreadId;
    set(server, HEADS_ROOT, t, server.tracker.head(t) + o.n);
    return;
  }
  const session = sessions[o.s] as Session;
  const t = THREADS[o.thread] as ThreadId;
  try {
    if (o.k === 'read') {
      const value = planRead(session.tracker, t, session.device, o.seq);
      if (value !== null) set(session, deviceRoot(session.device), t, value);
    } else if (o.k === 'unread') {
      const value = planUnread(session.tracker, t, session.device, o.from);
      if (value !== null) set(session, deviceRoot(session.device), t, value);
    } else {
      const value = planMute(session.tracker, t, session.device, o.muted);
      if (value !== null) set(session, deviceRoot(session.device), muteKey(t), value);
    }
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
  }
}

const history = fc.record({
  clientIds: fc.uniqueArray(fc.integer({ min: 1, max: 2 ** 31 - 1 }), {
    minLength: DEVICES.length + 1,
    maxLength: DEVICES.length + 1,
  }),
  ops: fc.array(op, { minLength: 10, maxLength: 100, size: 'max' }),
});

describe('convergence (random histories)', () => {
  test('[COUNT-8] at every step each replica’s counts equal a plain model of the writes it has seen; all agree at the end', () => {
    let writes = 0;
    let duplicates = 0;
    fc.assert(
      fc.property(history, ({ clientIds, ops }) => {
        const sessions = world(clientIds);
        const model = new Model();
        for (const o of ops) {
          step(sessions, model, o);
          for (const session of sessions) {
            assert.deepEqual(deriveCounts(session.doc), model.counts(session));
            assert.deepEqual(session.tracker.counts(), model.counts(session));
          }
          const one = sessions[1] as Session;
          for (const t of THREADS) if (one.tracker.liveEntries(one.device, t).length > 1) duplicates++;
        }
        writes += model.writes.length;
        for (const a of sessions) for (const b of sessions) if (a !== b) syncPair(a.doc, b.doc);
        for (const session of sessions) assert.deepEqual(deriveCounts(session.doc), model.counts(null));
      }),
      propertyParams('convergence', 60),
    );
    assert.ok(writes > 0 && duplicates > 0, `the histories wrote (${writes}) and left duplicates (${duplicates})`);
  });
});

describe('no lost read (scenarios)', () => {
  const INBOX = 'inbox' as ThreadId;
  function setup(head: number): { server: Session; phone: Session; mac: Session } {
    const server = new Session(SERVER_DEVICE, 1);
    new KeyValueArray(server.doc, HEADS_ROOT).set(INBOX, head);
    const phone = new Session('phone' as DeviceId, 2);
    const mac = new Session('mac' as DeviceId, 3);
    syncPair(server.doc, phone.doc);
    syncPair(server.doc, mac.doc);
    return { server, phone, mac };
  }
  const read = (s: Session, seq: number) => {
    const value = planRead(s.tracker, INBOX, s.device, seq);
    if (value !== null) s.own.set(INBOX, value);
    return value;
  };
  const since = (s: Session, sv: Uint8Array) => Y.encodeStateAsUpdate(s.doc, sv);

  test('[COUNT-9] a device back after hours offline with old markers raises no count; its offline reads arrive', () => {
    const { server, phone, mac } = setup(20);
    const before = Y.encodeStateVector(phone.doc);
    read(phone, 5);
    const phoneOld = since(phone, before); // the phone goes offline with this marker
    read(mac, 15);
    syncPair(server.doc, mac.doc);
    assert.equal(deriveCounts(server.doc).badge, 5);
    // Hours later the phone's old marker arrives, then a read it made offline.
    Y.applyUpdate(server.doc, phoneOld);
    assert.equal(deriveCounts(server.doc).badge, 5, 'an old marker lowered the read');
    read(phone, 18);
    syncPair(server.doc, phone.doc);
    assert.equal(deriveCounts(server.doc).badge, 2);
    syncPair(server.doc, mac.doc);
    assert.equal(mac.tracker.badge, 2, 'the offline read reached the other device');
  });

  test('[COUNT-9] two sessions of one device, one stale: its lower entry stays beside the larger, which still counts', () => {
    const { server, phone } = setup(10);
    const stale = new Session('phone' as DeviceId, 9);
    syncPair(server.doc, stale.doc);
    read(phone, 8);
    read(stale, 3); // an old session of the phone, not yet synced
    syncPair(server.doc, phone.doc);
    syncPair(server.doc, stale.doc);
    assert.deepEqual(
      server.tracker
        .liveEntries(phone.device, INBOX)
        .map((e) => e.val)
        .sort(),
      [3, 8],
    );
    assert.equal(deriveCounts(server.doc).badge, 2);
    // The stale session, synced now, plans from the device's largest entry: never below 8.
    assert.equal(planRead(stale.tracker, INBOX, stale.device, 6), null);
    read(stale, 9);
    syncPair(server.doc, stale.doc);
    assert.deepEqual(
      server.tracker.liveEntries(phone.device, INBOX).map((e) => e.val),
      [9],
    );
  });

  test('[COUNT-9] only a mark-as-unread (a newer epoch) raises a count, and it beats a stale read that arrives later', () => {
    const { server, phone, mac } = setup(10);
    read(phone, 10);
    syncPair(server.doc, phone.doc);
    syncPair(server.doc, mac.doc);
    assert.equal(read(mac, 10), null); // nothing: already read
    const value = planUnread(mac.tracker, INBOX, mac.device, 7);
    assert.equal(value, packMarker(1, 6));
    mac.own.set(INBOX, value as number);
    syncPair(server.doc, mac.doc);
    assert.equal(deriveCounts(server.doc).badge, 4);
    // The phone, offline, re-sends an old value: the newer epoch still wins.
    phone.own.set(INBOX, 10);
    syncPair(server.doc, phone.doc);
    assert.equal(deriveCounts(server.doc).badge, 4, 'a stale read undid a mark-as-unread');
  });

  test('[COUNT-9] pinned: a replica with pending structs can show a replaced marker as gone until the replacement arrives', () => {
    // Yjs applies the delete set of an update at once, while the new entry in the same
    // update waits for a struct of its client the replica has not seen. The server never
    // holds pending structs (RULE-14); a device that is not yet synced can, for a moment.
    const writer = new Session('d2' as DeviceId, 3);
    const reader = new Session('d3' as DeviceId, 4);
    writer.own.set(INBOX, 1);
    writer.own.set(muteKey(INBOX), 3);
    writer.own.set(INBOX, 2);
    const [first, mute, replace] = writer.updates as [Uint8Array, Uint8Array, Uint8Array];
    Y.applyUpdate(reader.doc, first);
    Y.applyUpdate(reader.doc, replace);
    assert.equal(reader.pending, true);
    assert.equal(reader.tracker.maxMarker(INBOX), 0, 'Yjs behaviour changed');
    Y.applyUpdate(reader.doc, mute);
    assert.equal(reader.pending, false);
    assert.equal(reader.tracker.maxMarker(INBOX), 2);
  });
});
