import type { AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { guarded } from '../guard.js';
import type { RoomEvents } from '../push/ports.js';
import type { ClusterStore, CommitReport, CommittedSeq, ExclusiveTail } from '../store/cluster-store.js';
import type { Store, WriteBatch } from '../store/store.js';
import { type LogReader, RoomSync, type SyncedRoom } from './room-sync.js';

/**
 * How often every loaded account's watermark is compared with the log's newest seq
 * (`logSeqs`): a lost LAST message of an account leaves no hole for the next one to show, so
 * this bounds how long a device can stay behind when Redis dropped it. One query for all
 * loaded accounts; 3 s keeps that cheap and a lost message's delay a few seconds at most.
 */
export const RECONCILE_MS = 3_000;

/** The shared log's calls the link uses (ClusterStore, docs/CLUSTER.md). */
export interface SharedLog extends LogReader, Pick<ClusterStore, 'commitReporting' | 'exclusive'> {
  logSeqs(accounts: readonly AccountId[]): Promise<Map<AccountId, number>>;
}

/** An update another node committed, as the bus delivers it. */
export interface BusUpdate {
  readonly origin: string;
  readonly account: AccountId;
  readonly seq: number;
  readonly update: Uint8Array;
}

/** What the link asks of the update bus (UpdateBus over Redis). */
export interface UpdatePublisher {
  /** Never rejects: a failed publish is logged by the bus (peers repair from the log). */
  publish(account: AccountId, seq: number, update: Uint8Array): Promise<unknown>;
}

/** What the link asks of cluster-wide presence (PresenceDirectory over Redis). */
export interface PresencePort {
  /** A connection of the device to the account opened on this node. */
  online(account: AccountId, device: DeviceId): Promise<void>;
  /** A connection of the device to the account on this node closed. */
  offline(account: AccountId, device: DeviceId): Promise<void>;
  isOnline(account: AccountId, device: DeviceId): Promise<boolean>;
}

/** The loaded rooms, as the link sees them. */
export interface LoadedRooms<R extends SyncedRoom> {
  peek(account: AccountId): R | undefined;
  loaded(): readonly R[];
  /** Whether the device has a live connection to the account on this node. */
  isOnlineHere(account: AccountId, device: DeviceId): boolean;
}

export interface ClusterLinkDeps {
  readonly nodeId: string;
  readonly store: Store & SharedLog;
  readonly bus: UpdatePublisher;
  readonly presence: PresencePort;
  readonly log: Logger;
  readonly reconcileMs?: number;
  readonly holeGraceMs?: number;
}

/**
 * One node's link to the rest of the cluster (docs/CLUSTER.md, SPEC CLUSTER-13..CLUSTER-20,
 * CLUSTER-40, CLUSTER-41):
 * - its store (`store`) commits through `commitReporting`; once a batch is durable each update
 *   is published on the bus with its seq, and the account's RoomSync holds the seq;
 * - another node's update (`received`) goes to the account's room when it is loaded here, in
 *   seq order, with holes filled from the log after a grace;
 * - every RECONCILE_MS the watermarks of the loaded accounts are compared with the log, and
 *   after the bus's subscription came back (`resubscribed`) every loaded account is repaired;
 * - rooms' presence goes to the cluster's directory, and push asks it (`isOnline`).
 */
export class ClusterLink<R extends SyncedRoom = SyncedRoom> {
  /** The store the server uses: the shared store, whose commits publish. */
  readonly store: Store;
  readonly #syncs = new WeakMap<R, RoomSync>();
  #rooms: LoadedRooms<R> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reconciling = false;
  #closed = false;

  constructor(private readonly deps: ClusterLinkDeps) {
    this.store = publishingStore(
      deps.store,
      (batch, report) => this.#committed(batch, report),
      (err) => deps.log.error({ err, where: 'after commit' }, 'unexpected throw caught at the boundary'),
    );
  }

  /** Starts syncing the rooms (the server builds them after the store). */
  attach(rooms: LoadedRooms<R>): void {
    this.#rooms = rooms;
    this.#timer = setInterval(
      guarded(this.deps.log, 'cluster reconcile', () => {
        this.reconcile().catch((err: unknown) => this.deps.log.warn({ err }, 'cluster reconcile failed'));
      }),
      this.deps.reconcileMs ?? RECONCILE_MS,
    );
    this.#timer.unref();
  }

  /** The room's sync state, made on first use from the seq its load replayed. */
  #sync(room: R): RoomSync {
    let sync = this.#syncs.get(room);
    if (sync === undefined) {
      const deps = {
        log: this.deps.log,
        store: this.deps.store,
        current: () => !this.#closed && this.#rooms?.peek(room.account) === room,
        ...(this.deps.holeGraceMs === undefined ? {} : { holeGraceMs: this.deps.holeGraceMs }),
      };
      sync = new RoomSync(room, deps);
      this.#syncs.set(room, sync);
    }
    return sync;
  }

  /** [CLUSTER-20] Brings the room's replica up to the log now (a refused device update waits for it). */
  catchUp(room: R): Promise<void> {
    return this.#sync(room).repair('catch-up');
  }

  /**
   * [CLUSTER-45] A room just loaded here: other nodes' updates published while it loaded found
   * no room and were dropped, so it reads the log after its load's seq at once.
   */
  published(room: R): void {
    if (this.#closed) return;
    this.#sync(room)
      .repair('load')
      .catch((err: unknown) => this.deps.log.warn({ err, account: room.account }, 'catch-up after load failed'));
  }

  /** The seq through which the room's replica holds the whole log (compaction's bound). */
  heldThrough(room: R): number {
    return this.#sync(room).watermark;
  }

  #committed(batch: WriteBatch, report: CommitReport): void {
    batch.updates.forEach((entry, i) => {
      const given = report.seqs[i];
      if (given !== undefined) this.#publish(given, entry.update);
    });
    // [CLUSTER-41] Counts the store left out: derived from a replica that lacked another
    // node's entries. Caught up, the room hands its whole counts to the next batch.
    for (const account of report.staleCounts) {
      const room = this.#rooms?.peek(account);
      if (room !== undefined) this.#recount(room);
    }
  }

  /** One committed update of this node: the room's watermark moves over it, the other nodes hear of it. */
  #publish(given: CommittedSeq, update: Uint8Array): void {
    const room = this.#rooms?.peek(given.account);
    if (room !== undefined) this.#sync(room).committed(given.seq);
    // Trace (docs/CLUSTER.md "Tracing"): when each seq was durable here and handed to the bus.
    this.deps.log.debug({ account: given.account, seq: given.seq }, 'cluster publish');
    // Not awaited: the relay to this node's devices does not wait for Redis. A publish that
    // fails leaves a hole the other nodes repair from the log (or a reconcile finds).
    this.deps.bus.publish(given.account, given.seq, update).catch((err: unknown) => {
      this.deps.log.warn({ err, account: given.account, seq: given.seq }, 'publish failed; other nodes repair');
    });
  }

  /** [CLUSTER-41] Catches the room up with the log, then recounts it whole for the next batch (checked again there). */
  #recount(room: R): void {
    const sync = this.#sync(room);
    sync
      .repair('stale-counts')
      .then(() => {
        if (!this.#closed && this.#rooms?.peek(room.account) === room) room.recount();
      })
      .catch((err: unknown) =>
        this.deps.log.warn({ err, account: room.account }, 'stale counts not repaired; the next commit tries again'),
      );
  }

  // --- [CLUSTER-40] exact writes (ExactWrites, server/src/rooms/exact-writes.ts)

  /** The shared store's exclusive transaction. */
  readonly exclusive: ClusterStore['exclusive'] = (account, request, work) =>
    this.deps.store.exclusive(account, request, work);

  /** The tail exclusive read after the room's watermark, applied: the watermark moves to its last seq. */
  applyTail(room: R, tail: ExclusiveTail): void {
    this.#sync(room).caughtUp(tail);
  }

  /** The room's exclusive write committed under these seqs: recorded and published. */
  committed(room: R, updates: readonly Uint8Array[], seqs: readonly CommittedSeq[]): void {
    seqs.forEach((given, i) => {
      const update = updates[i];
      if (update !== undefined && given.account === room.account) this.#publish(given, update);
    });
  }

  /** [CLUSTER-14] Another node's update: applied to the account's room if it is loaded here. */
  received(message: BusUpdate): void {
    if (this.#closed || message.origin === this.deps.nodeId) return;
    const room = this.#rooms?.peek(message.account);
    if (room === undefined) return;
    this.deps.log.debug({ account: message.account, seq: message.seq, origin: message.origin }, 'cluster received');
    this.#sync(room).received(message.seq, message.update);
  }

  /** [CLUSTER-16] The bus was cut off and is back: anything may have been missed. */
  resubscribed(): void {
    if (this.#closed || this.#rooms === null) return;
    const rooms = this.#rooms.loaded();
    this.deps.log.info({ accounts: rooms.length }, 'bus subscription back: repairing every loaded account');
    for (const room of rooms) {
      this.#sync(room)
        .repair('resubscribed')
        .catch((err: unknown) => this.deps.log.warn({ err, account: room.account }, 'repair failed'));
    }
  }

  /** [CLUSTER-15] Repairs every loaded account whose replica is behind the log. */
  async reconcile(): Promise<void> {
    if (this.#closed || this.#rooms === null || this.#reconciling) return;
    this.#reconciling = true;
    try {
      const rooms = this.#rooms.loaded();
      if (rooms.length === 0) return;
      const newest = await this.deps.store.logSeqs(rooms.map((room) => room.account));
      const repairs: Array<Promise<void>> = [];
      for (const room of rooms) {
        const seq = newest.get(room.account) ?? 0;
        if (seq > 0) repairs.push(this.#sync(room).logHas(seq));
      }
      await Promise.all(repairs);
    } finally {
      this.#reconciling = false;
    }
  }

  /** The rooms' presence events, also told to the cluster's directory. */
  roomEvents(inner: RoomEvents): RoomEvents {
    const { presence, log } = this.deps;
    return {
      countsCommitted: (account, counts) => inner.countsCommitted(account, counts),
      deviceOnline: (account, device) => {
        inner.deviceOnline(account, device);
        presence.online(account, device).catch((err: unknown) => log.warn({ err }, 'presence online failed'));
      },
      deviceOffline: (account, device) => {
        inner.deviceOffline(account, device);
        presence.offline(account, device).catch((err: unknown) => log.warn({ err }, 'presence offline failed'));
      },
    };
  }

  /**
   * [CLUSTER-17] Whether the device is connected to the account on any node: here, or in the
   * directory. When Redis cannot answer, offline: a push too many beats a badge never sent.
   */
  async isOnline(account: AccountId, device: DeviceId): Promise<boolean> {
    if (this.#rooms?.isOnlineHere(account, device) === true) return true;
    try {
      const online = await this.deps.presence.isOnline(account, device);
      // Trace (docs/CLUSTER.md "Tracing"): the presence answers a push was decided on.
      if (!online) this.deps.log.debug({ account, device }, 'cluster presence: offline');
      return online;
    } catch (err) {
      this.deps.log.warn({ err }, 'presence lookup failed; treating the device as offline');
      return false;
    }
  }

  /** Stops syncing (shutdown): no more repairs or applies. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    for (const room of this.#rooms?.loaded() ?? []) this.#syncs.get(room)?.close();
  }
}

/**
 * The shared store with its `commit` made `commitReporting`: once the batch is durable,
 * `committed` hears each update's seq (and publishes it) and the accounts whose counts were
 * left out (STORE-27), before the commit's callbacks relay. Every other call goes to the store
 * itself.
 */
function publishingStore(
  store: Store & SharedLog,
  committed: (batch: WriteBatch, report: CommitReport) => void,
  onError: (err: unknown) => void,
): Store {
  const commit = async (batch: WriteBatch, holdMs?: number): Promise<void> => {
    const report = await store.commitReporting(batch, holdMs);
    // The batch is durable: a throw here (a bug) must not fail the commit, which is fatal.
    try {
      committed(batch, report);
    } catch (err) {
      onError(err);
    }
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'commit') return commit;
      // The store itself as `this`: its private fields are not the proxy's.
      const value: unknown = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
