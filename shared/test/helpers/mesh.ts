/**
 * Replicas of one account that exchange updates with no server check in between: a server
 * replica (ingest, API reads as @server) and device replicas (planner reads, mark unread,
 * mark all read, mutes). Each replica's own updates travel to every other replica as
 * messages that are delivered in any order, any batching (Y.mergeUpdates), duplicated or
 * held while a replica is offline. Every write is also told to the reference model.
 */
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import {
  accountMaps,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  planAllRead,
  planRead,
  planUnread,
  readsKey,
  SERVER_DEVICE,
  type ThreadId,
  unpackMarker,
} from '../../src/index.js';
import { ReferenceModel } from './model.js';
import { Rng } from './rng.js';

export const MESH_THREADS = ['inbox', 'chat:1', 'feed.x'] as ThreadId[];
const REMOTE = Symbol('remote');

export type MeshOp =
  | { readonly k: 'ingest'; readonly thread: number; readonly n: number }
  | { readonly k: 'read'; readonly peer: number; readonly thread: number; readonly seq: number }
  | { readonly k: 'unread'; readonly peer: number; readonly thread: number; readonly from: number }
  | { readonly k: 'allRead'; readonly peer: number }
  | { readonly k: 'mute'; readonly peer: number; readonly thread: number; readonly value: boolean | null }
  | { readonly k: 'toggle'; readonly peer: number }
  | {
      readonly k: 'deliver';
      readonly peer: number;
      readonly picks: readonly number[];
      readonly merge: boolean;
      readonly dup: boolean;
    }
  | { readonly k: 'sync'; readonly a: number; readonly b: number };

export interface MeshChecks {
  /** [COUNT-7] After every transaction on every replica, the tracker equals deriveCounts. */
  readonly tracker: boolean;
  /** [COUNT-9] After every transaction on every replica, no m(t) decreases and no count rises without a head or an epoch. */
  readonly noLostRead: boolean;
  /**
   * Deliver each sender's messages to each replica in the order they were sent (as over one
   * socket), still interleaving senders, batching, duplicating and holding them at will.
   */
  readonly fifo?: boolean;
}

interface Snapshot {
  readonly head: number;
  readonly max: number;
}

class Peer {
  readonly doc = new Y.Doc();
  readonly tracker: CountsTracker;
  online = true;
  readonly outbox: Uint8Array[] = [];
  reportedBadge = 0;
  transactions = 0;
  /** Transactions after which the replica held pending structs or deletes. */
  pendingTransactions = 0;
  #last = new Map<ThreadId, Snapshot>();

  constructor(
    readonly index: number,
    readonly device: DeviceId,
    clientId: number,
    mesh: Mesh,
    checks: MeshChecks,
  ) {
    this.doc.clientID = clientId;
    this.tracker = new CountsTracker(this.doc);
    this.tracker.onChange((change) => {
      assert.equal(change.previousBadge, this.reportedBadge, `${device}: previousBadge`);
      assert.equal(change.badge, this.tracker.badge, `${device}: reported badge`);
      this.reportedBadge = change.badge;
    });
    // Registered after the tracker's own handler, so it sees the tracker updated.
    this.doc.on('afterTransaction', () => {
      this.transactions++;
      if (checks.tracker) {
        assert.deepEqual(this.tracker.counts(), deriveCounts(this.doc), `${device}: tracker ≠ deriveCounts`);
        assert.equal(this.reportedBadge, this.tracker.badge, `${device}: a badge change was not reported`);
      }
      if (checks.noLostRead) this.#checkNoLostRead();
    });
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin === REMOTE) return;
      if (this.online) mesh.broadcast(this.index, update);
      else this.outbox.push(update);
    });
  }

  /**
   * [COUNT-9] Markers merge by max; only a head or a newer epoch can raise a count. Judged
   * between states with nothing pending: Yjs applies a delete set at once even when the
   * overwrite it belongs to is pending, so a replica holding pending structs can show an
   * overwritten marker as gone until the overwrite arrives (see the pinned scenario).
   */
  #checkNoLostRead(): void {
    if (this.doc.store.pendingStructs !== null || this.doc.store.pendingDs !== null) {
      this.pendingTransactions++;
      return;
    }
    for (const thread of MESH_THREADS) {
      const now = { head: this.tracker.head(thread), max: this.tracker.maxMarker(thread) };
      const before = this.#last.get(thread) ?? { head: 0, max: 0 };
      assert.ok(now.max >= before.max, `${this.device}: m(${thread}) fell ${before.max} → ${now.max}`);
      const unreadBefore = Math.max(0, before.head - unpackMarker(before.max).seq);
      const unreadNow = Math.max(0, now.head - unpackMarker(now.max).seq);
      if (unreadNow > unreadBefore) {
        assert.ok(
          now.head > before.head || unpackMarker(now.max).epoch > unpackMarker(before.max).epoch,
          `${this.device}: unread(${thread}) rose ${unreadBefore} → ${unreadNow} without a new item or a mark-as-unread`,
        );
      }
      this.#last.set(thread, now);
    }
  }

  apply(update: Uint8Array): void {
    Y.applyUpdate(this.doc, update, REMOTE);
  }
}

export class Mesh {
  readonly peers: Peer[];
  readonly model = new ReferenceModel();
  messages: { from: number; to: number; update: Uint8Array }[] = [];
  readonly counters = { delivered: 0, merged: 0, duplicated: 0, writes: 0 };

  /** Peer 0 is the server replica; the others are devices d1, d2, …. */
  readonly #fifo: boolean;

  constructor(clientIds: readonly number[], checks: MeshChecks) {
    this.#fifo = checks.fifo ?? false;
    this.peers = clientIds.map(
      (clientId, i) => new Peer(i, i === 0 ? SERVER_DEVICE : (`d${i}` as DeviceId), clientId, this, checks),
    );
  }

  broadcast(from: number, update: Uint8Array): void {
    for (const peer of this.peers) if (peer.index !== from) this.messages.push({ from, to: peer.index, update });
  }

  #peer(index: number): Peer {
    return this.peers[index % this.peers.length] as Peer;
  }

  run(op: MeshOp): void {
    switch (op.k) {
      case 'ingest': {
        const server = this.#peer(0);
        const thread = MESH_THREADS[op.thread % MESH_THREADS.length] as ThreadId;
        const head = server.tracker.head(thread) + op.n;
        accountMaps(server.doc).heads.set(thread, head);
        this.model.head(thread, head);
        this.counters.writes++;
        return;
      }
      case 'read':
        return this.#mark(this.#peer(op.peer), op.thread, (p, t) => planRead(p.tracker, t, p.device, op.seq));
      case 'unread':
        return this.#mark(this.#peer(op.peer), op.thread, (p, t) => {
          if (p.index === 0) return null; // the API only reads
          try {
            return planUnread(p.tracker, t, p.device, op.from);
          } catch (err) {
            if (err instanceof RangeError) return null; // the planner's epoch lead limit
            throw err;
          }
        });
      case 'allRead': {
        const peer = this.#peer(op.peer);
        if (peer.index === 0) return;
        const writes = planAllRead(peer.tracker, peer.device);
        peer.doc.transact(() => {
          for (const write of writes) accountMaps(peer.doc).reads.set(readsKey(write.thread, peer.device), write.value);
        });
        for (const write of writes) this.model.marker(readsKey(write.thread, peer.device), write.value);
        this.counters.writes += writes.length;
        return;
      }
      case 'mute':
        return this.#mute(this.#peer(op.peer), op.thread, op.value);
      case 'toggle': {
        const peer = this.#peer(op.peer);
        peer.online = !peer.online;
        if (peer.online) {
          for (const update of peer.outbox.splice(0)) this.broadcast(peer.index, update);
        }
        return;
      }
      case 'deliver':
        return this.#deliver(this.#peer(op.peer), op.picks, op.merge, op.dup);
      case 'sync': {
        const a = this.#peer(op.a);
        const b = this.#peer(op.b);
        if (a === b || !a.online || !b.online) return;
        const toA = Y.encodeStateAsUpdate(b.doc, Y.encodeStateVector(a.doc));
        const toB = Y.encodeStateAsUpdate(a.doc, Y.encodeStateVector(b.doc));
        a.apply(toA);
        b.apply(toB);
        return;
      }
    }
  }

  #mark(peer: Peer, threadIndex: number, plan: (peer: Peer, thread: ThreadId) => number | null): void {
    const thread = MESH_THREADS[threadIndex % MESH_THREADS.length] as ThreadId;
    const value = plan(peer, thread);
    if (value === null) return;
    const key = readsKey(thread, peer.device);
    accountMaps(peer.doc).reads.set(key, value);
    this.model.marker(key, value);
    this.counters.writes++;
  }

  #mute(peer: Peer, threadIndex: number, value: boolean | null): void {
    if (peer.index === 0) return;
    const thread = MESH_THREADS[threadIndex % MESH_THREADS.length] as ThreadId;
    const { mutes } = accountMaps(peer.doc);
    const entries = (mutes as unknown as { _map: Map<string, Y.Item> })._map;
    const current = entries.get(thread);
    const seen = current === undefined ? null : `${current.lastId.client}:${current.lastId.clock}`;
    if (value === null) {
      if (current === undefined || current.deleted || seen === null) return;
      mutes.delete(thread);
      this.model.muteDelete(thread, seen);
    } else {
      mutes.set(thread, value);
      const item = entries.get(thread) as Y.Item;
      this.model.muteSet(thread, `${item.id.client}:${item.id.clock}`, item.id.client, seen, value);
    }
    this.counters.writes++;
  }

  #deliver(peer: Peer, picks: readonly number[], merge: boolean, dup: boolean): void {
    if (!peer.online) return;
    let waiting = this.messages.flatMap((m, i) => (m.to === peer.index ? [i] : []));
    if (this.#fifo) {
      // Only the oldest waiting message of each sender may go next.
      const senders = new Set<number>();
      waiting = waiting.filter((i) => {
        const from = (this.messages[i] as { from: number }).from;
        if (senders.has(from)) return false;
        senders.add(from);
        return true;
      });
    }
    if (waiting.length === 0) return;
    const chosen = [...new Set((picks.length > 0 ? picks : [0]).map((p) => waiting[p % waiting.length] as number))];
    const updates = chosen.map((i) => (this.messages[i] as { update: Uint8Array }).update);
    if (dup) this.counters.duplicated += chosen.length;
    else this.messages = this.messages.filter((_, i) => !chosen.includes(i));
    this.counters.delivered += updates.length;
    if (merge && updates.length > 1) {
      this.counters.merged++;
      peer.apply(Y.mergeUpdates(updates));
    } else {
      for (const update of updates) peer.apply(update);
    }
  }

  /** Brings everyone online and delivers every message, shuffled and batched by `seed`. */
  finish(seed: number): void {
    const rng = new Rng(seed);
    for (const peer of this.peers) {
      if (!peer.online) this.run({ k: 'toggle', peer: peer.index });
    }
    while (this.messages.length > 0) {
      const peer = rng.pick(this.peers);
      const picks = Array.from({ length: rng.range(1, 4) }, () => rng.int(1000));
      this.#deliver(peer, picks, rng.chance(0.5), false);
    }
  }

  /** [COUNT-8] Every replica holds the same maps, nothing pending, and the counts of the model. */
  assertConverged(): void {
    const expected = this.model.counts();
    const first = this.peers[0] as Peer;
    const text = (peer: Peer) =>
      JSON.stringify(['heads', 'reads', 'mutes'].map((name) => Object.entries(peer.doc.getMap(name).toJSON()).sort()));
    for (const peer of this.peers) {
      assert.equal(peer.doc.store.pendingStructs, null, `${peer.device}: pending structs`);
      assert.equal(peer.doc.store.pendingDs, null, `${peer.device}: pending deletes`);
      assert.equal(text(peer), text(first), `${peer.device} and ${first.device} hold different maps`);
      assert.deepEqual(deriveCounts(peer.doc), expected, `${peer.device}: counts ≠ the reference model`);
      assert.deepEqual(peer.tracker.counts(), expected, `${peer.device}: tracker ≠ the reference model`);
    }
  }
}
