/**
 * Device replicas that write only through the marker planners and KeyValueArray (contract
 * v2), and a small seeded world (a server and three devices with some history) for the
 * write-rule tests.
 */
import * as Y from 'yjs';
import {
  type DeviceId,
  deviceRoot,
  KeyValueArray,
  muteKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  type ThreadId,
} from '../../src/index.js';
import { ServerPeer } from './server-peer.js';
import { makeView, type View } from './views.js';

/** Transaction origin of updates a replica received. */
export const REMOTE = Symbol('remote');

export class DeviceReplica {
  doc: Y.Doc;
  tracker: View;
  entries: KeyValueArray;
  /** Local updates not yet taken by `take()`. */
  #local: Uint8Array[] = [];

  constructor(
    readonly id: DeviceId,
    clientId?: number,
  ) {
    this.doc = new Y.Doc();
    if (clientId !== undefined) this.doc.clientID = clientId;
    this.tracker = makeView(this.doc);
    this.entries = new KeyValueArray(this.doc, deviceRoot(id));
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) this.#local.push(update);
    });
  }

  get clientId(): number {
    return this.doc.clientID;
  }

  /** Receives everything the server has that this replica lacks. */
  pull(server: ServerPeer): void {
    Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(server.doc, Y.encodeStateVector(this.doc)), REMOTE);
  }

  /** The local updates made since the last take, merged; null when there were none. */
  take(): Uint8Array | null {
    const updates = this.#local;
    this.#local = [];
    if (updates.length === 0) return null;
    return updates.length === 1 ? (updates[0] as Uint8Array) : Y.mergeUpdates(updates);
  }

  /** The update that brings `server` up to this replica (a sync step 2 answer). */
  step2(server: ServerPeer): Uint8Array {
    return Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(server.doc));
  }

  read(thread: ThreadId, seq: number): number | null {
    const value = planRead(this.tracker, thread, this.id, seq);
    if (value !== null) this.entries.set(thread, value);
    return value;
  }

  unread(thread: ThreadId, fromSeq: number): number | null {
    const value = planUnread(this.tracker, thread, this.id, fromSeq);
    if (value !== null) this.entries.set(thread, value);
    return value;
  }

  allRead(): number {
    const writes = planAllRead(this.tracker, this.id);
    this.doc.transact(() => {
      for (const write of writes) this.entries.set(write.thread, write.value);
    });
    return writes.length;
  }

  /** Mutes or unmutes `thread` (null: unmute, as v1's delete). */
  mute(thread: ThreadId, muted: boolean | null): number | null {
    const stamp = planMute(this.tracker, thread, this.id, muted === true);
    if (stamp !== null) this.entries.set(muteKey(thread), stamp);
    return stamp;
  }

  /** Sends the pending local updates to the server; returns the verdicts. */
  push(server: ServerPeer): ReturnType<ServerPeer['receive']>[] {
    const update = this.take();
    return update === null ? [] : [server.receive(this.id, update)];
  }
}

export const A = 'phone-a' as DeviceId;
export const B = 'mac-b' as DeviceId;
export const C = 'ipad-c' as DeviceId;
export const THREADS = ['inbox', 'chat:1', 'feed.x', 'm@il'] as ThreadId[];

/** Deterministic client IDs so failures print the same ids run after run. */
export const CLIENT = { a: 1001, b: 2002, c: 3003 } as const;

export interface World {
  readonly server: ServerPeer;
  readonly a: DeviceReplica;
  readonly b: DeviceReplica;
  readonly c: DeviceReplica;
}

/**
 * A server with heads on three threads, and three synced devices: a has read inbox to 4,
 * b has read chat:1 to the head, c has muted feed.x.
 */
export function makeWorld(): World {
  const server = new ServerPeer();
  server.ingest(THREADS[0] as ThreadId, 10);
  server.ingest(THREADS[1] as ThreadId, 5);
  server.ingest(THREADS[2] as ThreadId, 3);
  const a = new DeviceReplica(A, CLIENT.a);
  const b = new DeviceReplica(B, CLIENT.b);
  const c = new DeviceReplica(C, CLIENT.c);
  for (const device of [a, b, c]) device.pull(server);
  a.read(THREADS[0] as ThreadId, 4);
  b.read(THREADS[1] as ThreadId, 99);
  c.mute(THREADS[2] as ThreadId, true);
  for (const device of [a, b, c]) {
    for (const verdict of device.push(server)) {
      if (verdict.kind !== 'accept') throw new Error(`world setup refused: ${JSON.stringify(verdict)}`);
    }
  }
  for (const device of [a, b, c]) device.pull(server);
  return { server, a, b, c };
}
