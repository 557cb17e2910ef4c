/**
 * A real AccountRoom on a real store (memory or a SQLite file) with members that record what
 * they receive, and device replicas that write through Yjs: for tests of what a room does
 * with each update, without sockets.
 */
import {
  type AccountId,
  accountMaps,
  type DeviceId,
  decodeMessage,
  parseAccountId,
  parseDeviceId,
  type ThreadId,
} from '@badgesync/shared';
import { pino } from 'pino';
import * as Y from 'yjs';
import { Metrics } from '../src/metrics.js';
import { AccountRoom, type ReceiveResult, type RoomMember } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import type { Store } from '../src/store/index.js';

export const ACCOUNT: AccountId = parseAccountId('alice');
export const PHONE = parseDeviceId('phone-a');
export const MAC = parseDeviceId('mac-b');
export const IPAD = parseDeviceId('ipad-c');
export const INBOX = 'inbox' as ThreadId;
export const CHAT = 'chat' as ThreadId;
export const FEED = 'feed' as ThreadId;

/** A connection as the room sees it: records every message and its close. */
export class RecordingMember implements RoomMember {
  readonly received: Uint8Array[] = [];
  closed: { readonly code: number; readonly reason: string } | null = null;

  constructor(
    readonly device: DeviceId,
    private readonly room: AccountRoom,
  ) {
    room.join(this);
  }

  send(message: Uint8Array): void {
    if (this.closed === null) this.received.push(message.slice());
  }

  close(code: number, reason: string): void {
    if (this.closed !== null) return;
    this.closed = { code, reason };
    this.room.leave(this);
  }

  /** The Yjs updates relayed to this member so far (sync updates, not step 1/2). */
  relayed(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const bytes of this.received) {
      const message = decodeMessage(bytes);
      if (message.type === 'update') out.push(message.update);
    }
    return out;
  }

  /** What the room's session would do with an update from this member. */
  sendUpdate(update: Uint8Array): ReceiveResult {
    const result = this.room.receiveUpdate(this, update);
    if (result.kind === 'refused') this.close(result.code, result.reason);
    return result;
  }
}

/** A device's replica with a fixed Yjs client ID, synced from the room and writing through Yjs. */
export class Replica {
  readonly doc = new Y.Doc();
  #local: Uint8Array[] = [];

  constructor(
    readonly device: DeviceId,
    clientId: number,
  ) {
    this.doc.clientID = clientId;
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== 'remote') this.#local.push(update);
    });
  }

  pull(room: AccountRoom): void {
    Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(room.doc, Y.encodeStateVector(this.doc)), 'remote');
  }

  write(edit: (maps: ReturnType<typeof accountMaps>) => void): Uint8Array {
    this.doc.transact(() => edit(accountMaps(this.doc)));
    const update = Y.mergeUpdates(this.#local);
    this.#local = [];
    return update;
  }

  /** The id of the live item of `root[key]`: what an overwrite names as its origin. */
  itemId(root: string, key: string): { client: number; clock: number } {
    const item = (this.doc.getMap(root) as unknown as { _map: Map<string, Y.Item> })._map.get(key);
    if (item === undefined) throw new Error(`no ${root}[${key}]`);
    return { client: item.id.client, clock: item.id.clock + item.length - 1 };
  }
}

/** Everything a user could see of a document: its three maps. */
export function contentOf(doc: Y.Doc): unknown {
  const { heads, reads, mutes } = accountMaps(doc);
  return { heads: heads.toJSON(), reads: reads.toJSON(), mutes: mutes.toJSON() };
}

export class RoomRig {
  readonly metrics = new Metrics();
  readonly fatal: unknown[] = [];
  readonly commit: GroupCommit;
  room: AccountRoom;

  constructor(readonly store: Store) {
    this.commit = new GroupCommit(store, this.metrics, (err) => this.fatal.push(err));
    this.room = this.#load();
  }

  #load(): AccountRoom {
    return new AccountRoom(ACCOUNT, {
      store: this.store,
      commit: this.commit,
      metrics: this.metrics,
      log: pino({ level: 'silent' }),
      events: { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} },
    });
  }

  /** A fresh room loaded from the store alone, as after an unload or a restart. */
  reloaded(): AccountRoom {
    return this.#load();
  }

  flushed(): Promise<void> {
    return this.commit.flushed();
  }

  /** Number of log entries stored for the account. */
  logCount(): number {
    return this.store.loadDoc(ACCOUNT).logCount;
  }

  close(): void {
    this.commit.close();
    this.room.destroy();
    this.store.close();
  }
}
