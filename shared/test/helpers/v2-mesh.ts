/**
 * A small world of v2 replicas for the count properties (SPEC COUNT-7..COUNT-12): a server
 * session writing heads and `@server` reads, devices with one or more sessions each (one
 * Y.Doc and client ID per session, so two sessions of one device write the same keys
 * concurrently), and a stray writer that leaves what the derivation must ignore. Every
 * session writes only through KeyValueArray and the planners; updates are recorded and
 * delivered in any order, duplicated or batched. Each replica carries a CountsTracker.
 */
import * as Y from 'yjs';
import {
  CountsTracker,
  type DeviceId,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  muteKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  SERVER_DEVICE,
  type ThreadId,
} from '../../src/index.js';
import type { Rng } from './rng.js';

export const THREADS = ['t0', 't1', 't2'] as ThreadId[];

export class Session {
  readonly doc = new Y.Doc();
  readonly tracker: CountsTracker;
  readonly own: KeyValueArray;
  /**
   * Every update this session's doc emitted, local or applied, in order, that a replica of
   * badgesync could relay: not the one of a remote update that left structs pending. Yjs
   * applied that update's delete set and held its new entries back, so what it emits deletes
   * a marker without the entry that replaced it. Nobody relays that (COUNT-9): a device sends
   * only its own writes, and the server never holds pending structs (RULE-14).
   */
  readonly updates: Uint8Array[] = [];

  constructor(
    readonly device: DeviceId,
    clientId: number,
  ) {
    this.doc.clientID = clientId;
    this.tracker = new CountsTracker(this.doc);
    this.own = new KeyValueArray(this.doc, deviceRoot(device));
    this.doc.on('update', (update: Uint8Array, _origin: unknown, _doc: Y.Doc, transaction: Y.Transaction) => {
      if (!transaction.local && this.pending) return;
      this.updates.push(update);
    });
  }

  /** Whether Yjs holds structs or deletes it cannot place yet. */
  get pending(): boolean {
    return this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null;
  }
}

export type V2Op =
  | { readonly k: 'head'; readonly thread: number; readonly n: number }
  | { readonly k: 'read'; readonly s: number; readonly thread: number; readonly seq: number }
  | { readonly k: 'unread'; readonly s: number; readonly thread: number; readonly from: number }
  | { readonly k: 'allRead'; readonly s: number }
  | { readonly k: 'mute'; readonly s: number; readonly thread: number; readonly muted: boolean }
  | { readonly k: 'deliver'; readonly from: number; readonly to: number; readonly picks: readonly number[] }
  | { readonly k: 'sync'; readonly a: number; readonly b: number }
  | { readonly k: 'stray'; readonly what: number; readonly thread: number };

/** A stray writer's update: things every derivation ignores or must count as the rules allow. */
function strayUpdate(what: number, thread: ThreadId, clientId: number): Uint8Array {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  switch (what % 6) {
    case 0: // A map entry in a v2 root (parentSub ≠ null): ignored.
      doc.getMap('v2/device/stray').set(thread, { key: thread, val: 1 });
      break;
    case 1: // Malformed entries in a device array: ignored.
      doc.getArray('v2/device/junk').push([{ key: thread, val: -1 }, { key: thread }, 7, 'x', { key: 'a/b', val: 1 }]);
      break;
    case 2: // An entry with a third property: ignored.
      doc.getArray('v2/device/junk').push([{ key: thread, val: 2 ** 33, extra: 1 }]);
      break;
    case 3: // A root that is not v2: ignored.
      doc.getArray('other').push([{ key: thread, val: 5 }]);
      break;
    case 4: // A nested array in a device array: ignored.
      doc.getArray('v2/device/junk').push([new Y.Array()]);
      break;
    default: // A v1 map entry: ignored by the v2 derivation.
      doc.getMap('reads').set(`${thread}/x`, 9);
  }
  return Y.encodeStateAsUpdate(doc);
}

export class V2Mesh {
  readonly sessions: Session[];
  readonly strays: Uint8Array[] = [];
  #strayClient = 1_000_000;

  /** `layout[i]` sessions for device i; session 0 is the server (`@server`, writes heads). */
  constructor(layout: readonly number[], clientIds: readonly number[]) {
    const ids = [...clientIds];
    const next = () => ids.shift() ?? this.#strayClient++;
    this.sessions = [new Session(SERVER_DEVICE, next())];
    layout.forEach((count, i) => {
      for (let j = 0; j < count; j++) this.sessions.push(new Session(`d${i}` as DeviceId, next()));
    });
  }

  session(index: number): Session {
    return this.sessions[index % this.sessions.length] as Session;
  }

  apply(op: V2Op, rng: Rng): void {
    switch (op.k) {
      case 'head': {
        const server = this.sessions[0] as Session;
        const thread = THREADS[op.thread] as ThreadId;
        new KeyValueArray(server.doc, HEADS_ROOT).set(thread, server.tracker.head(thread) + op.n);
        return;
      }
      case 'read': {
        const s = this.session(op.s);
        const thread = THREADS[op.thread] as ThreadId;
        const value = planRead(s.tracker, thread, s.device, op.seq);
        if (value !== null) s.own.set(thread, value);
        return;
      }
      case 'unread': {
        const s = this.session(op.s);
        const thread = THREADS[op.thread] as ThreadId;
        try {
          const value = planUnread(s.tracker, thread, s.device, op.from);
          if (value !== null) s.own.set(thread, value);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
        }
        return;
      }
      case 'allRead': {
        const s = this.session(op.s);
        s.doc.transact(() => {
          for (const write of planAllRead(s.tracker, s.device)) s.own.set(write.thread, write.value);
        });
        return;
      }
      case 'mute': {
        const s = this.session(op.s);
        const thread = THREADS[op.thread] as ThreadId;
        try {
          const stamp = planMute(s.tracker, thread, s.device, op.muted);
          if (stamp !== null) s.own.set(muteKey(thread), stamp);
        } catch (error) {
          if (!(error instanceof RangeError)) throw error;
        }
        return;
      }
      case 'deliver': {
        const from = this.session(op.from);
        const to = this.session(op.to);
        if (from === to) return;
        for (const pick of op.picks) {
          const source = [...from.updates, ...this.strays];
          if (source.length === 0) return;
          Y.applyUpdate(to.doc, source[pick % source.length] as Uint8Array);
        }
        return;
      }
      case 'sync': {
        const a = this.session(op.a);
        const b = this.session(op.b);
        if (a === b) return;
        syncPair(a.doc, b.doc);
        return;
      }
      case 'stray': {
        const thread = THREADS[op.thread % THREADS.length] as ThreadId;
        const update = strayUpdate(op.what, thread, this.#strayClient++);
        this.strays.push(update);
        Y.applyUpdate(this.session(rng.int(this.sessions.length)).doc, update);
        return;
      }
    }
  }

  /** Everything ever written, by anyone. */
  allUpdates(): Uint8Array[] {
    return [...this.sessions.flatMap((s) => s.updates), ...this.strays];
  }
}

/** Brings two docs to the same state (each sends what the other lacks). */
export function syncPair(a: Y.Doc, b: Y.Doc): void {
  const toB = Y.encodeStateAsUpdate(a, Y.encodeStateVector(b));
  const toA = Y.encodeStateAsUpdate(b, Y.encodeStateVector(a));
  Y.applyUpdate(b, toB);
  Y.applyUpdate(a, toA);
}

/** What a device's array holds, read through Yjs's public API (not the tracker's reader). */
export interface Reference {
  readonly heads: Map<ThreadId, number>;
  readonly markers: Map<ThreadId, Map<DeviceId, number>>;
  readonly stamps: Map<ThreadId, Map<DeviceId, number>>;
  /** Live counted entries: root name → key → values, sorted. */
  readonly live: Map<string, Map<string, number[]>>;
}

const THREAD_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;

function isPlainEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Y.AbstractType) {
    return false;
  }
  const keys = Object.keys(value).sort();
  const { key, val } = value as { key?: unknown; val?: unknown };
  return (
    keys.length === 2 && keys[0] === 'key' && keys[1] === 'val' && typeof key === 'string' && typeof val === 'number'
  );
}

/**
 * The reference reading of a document: every v2 root read with Y.Array.toArray (which turns a
 * root a remote update created into a Y.Array, as an application calling getArray would).
 */
export function reference(doc: Y.Doc): Reference {
  const ref: Reference = { heads: new Map(), markers: new Map(), stamps: new Map(), live: new Map() };
  const raise = (map: Map<ThreadId, Map<DeviceId, number>>, thread: ThreadId, device: DeviceId, val: number) => {
    let devices = map.get(thread);
    if (devices === undefined) {
      devices = new Map();
      map.set(thread, devices);
    }
    devices.set(device, Math.max(devices.get(device) ?? val, val));
  };
  for (const name of [...doc.share.keys()]) {
    const isHeads = name === 'v2/heads';
    const device = name.startsWith('v2/device/') ? name.slice('v2/device/'.length) : null;
    if (!isHeads && (device === null || !THREAD_ID.test(device))) continue;
    const byKey = new Map<string, number[]>();
    for (const value of doc.getArray<unknown>(name).toArray()) {
      if (!isPlainEntry(value) || !Number.isSafeInteger(value.val) || value.val < 0) continue;
      const { key, val } = value;
      if (isHeads) {
        if (!THREAD_ID.test(key) || val > 2 ** 32 - 1) continue;
        ref.heads.set(key as ThreadId, Math.max(ref.heads.get(key as ThreadId) ?? val, val));
      } else if (THREAD_ID.test(key)) {
        if (val >= 2 ** 53) continue;
        raise(ref.markers, key as ThreadId, device as DeviceId, val);
      } else if (key.startsWith('m/') && THREAD_ID.test(key.slice(2))) {
        if (val < 2) continue;
        raise(ref.stamps, key.slice(2) as ThreadId, device as DeviceId, val);
      } else {
        continue;
      }
      byKey.set(
        key,
        [...(byKey.get(key) ?? []), val].sort((a, b) => a - b),
      );
    }
    ref.live.set(name, byKey);
  }
  return ref;
}
