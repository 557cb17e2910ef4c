/**
 * A real AccountRoom on a real store (memory or a SQLite file) with members that record what
 * they receive, and device replicas that write through Yjs: for tests of what a room does
 * with each update, without sockets.
 */
import {
  type AccountId,
  type DeviceId,
  type DocumentBudgets,
  decodeMessage,
  deviceRoot,
  type Entry,
  isV2Root,
  KeyValueArray,
  parseAccountId,
  parseDeviceId,
  type ThreadId,
} from '@badgesync/shared';
import { pino } from 'pino';
import * as Y from 'yjs';
import { Metrics } from '../src/metrics.js';
import { AccountRoom, type LoadedAccount, type ReceiveResult, type RoomMember } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import type { SyncStore } from '../src/store/index.js';

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

  /** Writes through the device's own array (`v2/device/<device>`, SPEC DOC-13); answers the update. */
  write(edit: (own: KeyValueArray) => void): Uint8Array {
    const own = new KeyValueArray(this.doc, deviceRoot(this.device));
    this.doc.transact(() => edit(own));
    const update = Y.mergeUpdates(this.#local);
    this.#local = [];
    return update;
  }

  /** The id of the live element holding `key` in the array `root`: what an insert after it names as origin. */
  itemId(root: string, key: string): { client: number; clock: number } {
    const found = liveItem(this.doc, root, key);
    if (found === null) throw new Error(`no ${key} in ${root}`);
    return found;
  }
}

/** The ID of the live array element of `root` whose entry has `key`; null when none. */
export function liveItem(doc: Y.Doc, root: string, key: string): { client: number; clock: number } | null {
  for (let item = doc.getArray(root)._start; item !== null; item = item.right) {
    if (item.deleted || !(item.content instanceof Y.ContentAny)) continue;
    const at = item.content.arr.findIndex((entry) => (entry as Entry).key === key);
    if (at >= 0) return { client: item.id.client, clock: item.id.clock + at };
  }
  return null;
}

/** The live entries of one array root, in order. */
export function entriesIn(doc: Y.Doc, root: string): Entry[] {
  const type = doc.share.get(root);
  if (type === undefined) return [];
  const out: Entry[] = [];
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted || item.parentSub !== null || !(item.content instanceof Y.ContentAny)) continue;
    out.push(...(item.content.arr as Entry[]));
  }
  return out;
}

/** The largest live value of `key` in the array `root`; undefined when none. */
export function valueIn(doc: Y.Doc, root: string, key: string): number | undefined {
  let max: number | undefined;
  for (const entry of entriesIn(doc, root))
    if (entry.key === key && (max === undefined || entry.val > max)) max = entry.val;
  return max;
}

/**
 * Everything a user could see of a document: each v2 root with live entries, as key → value
 * (key → every value, sorted, when several live entries share a key), and any other root
 * named (a v1 map would show here).
 */
export function contentOf(doc: Y.Doc): Record<string, Record<string, number | number[]>> {
  const out: Record<string, Record<string, number | number[]>> = {};
  for (const root of [...doc.share.keys()].sort()) {
    if (!isV2Root(root)) {
      out[root] = { notV2: 1 };
      continue;
    }
    const values = new Map<string, number[]>();
    for (const { key, val } of entriesIn(doc, root)) values.set(key, [...(values.get(key) ?? []), val]);
    if (values.size === 0) continue;
    out[root] = Object.fromEntries(
      [...values]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([key, vals]) => [key, vals.length === 1 ? (vals[0] as number) : vals.sort((x, y) => x - y)]),
    );
  }
  return out;
}

/**
 * A contract-v2 account read from a SyncStore at once, as AccountRoom.load reads it from the
 * async Store: for tests that build rooms synchronously (a v1 document needs load()).
 */
export function loadedFrom(store: SyncStore, account: AccountId): LoadedAccount {
  const stored = store.loadDoc(account);
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const update of stored.updates) Y.applyUpdate(doc, update);
  });
  return { bindings: store.loadBindings(account), doc, logCount: stored.logCount };
}

export class RoomRig {
  readonly metrics = new Metrics();
  readonly fatal: unknown[] = [];
  readonly commit: GroupCommit;
  room: AccountRoom;

  constructor(
    readonly store: SyncStore,
    /** The room's document budgets; the settings' defaults when absent. */
    private readonly budgets?: DocumentBudgets,
  ) {
    this.commit = new GroupCommit(asyncStore(store), this.metrics, (err) => this.fatal.push(err));
    this.room = this.#load();
  }

  #load(): AccountRoom {
    return new AccountRoom(
      ACCOUNT,
      {
        store: asyncStore(this.store),
        commit: this.commit,
        metrics: this.metrics,
        log: pino({ level: 'silent' }),
        events: { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} },
        ...(this.budgets === undefined ? {} : { budgets: this.budgets }),
      },
      loadedFrom(this.store, ACCOUNT),
    );
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
