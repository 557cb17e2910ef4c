import {
  type AccountCounts,
  type AccountId,
  CountsTracker,
  type DeviceId,
  deriveV1Counts,
  deviceRoot,
  hasV1Content,
  KeyValueArray,
  parseThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import type { Endpoints } from './endpoints.js';
import { applyIntent, type Intent } from './intents.js';
import { keptWrites } from './kept-writes.js';
import {
  BadgeSyncHttpError,
  deviceRequest,
  type FetchLike,
  type PushRegistration,
  type RegisteredDevice,
  registrationBody,
} from './push.js';
import type { AccountStatus } from './status.js';
import type { BadgeSyncStorage, ReplicaMeta, StoredReplica } from './storage/storage.js';
import { type Credentials, TokenSource } from './token-source.js';
import type { NetworkMonitor, WebSocketConstructor } from './websocket-like.js';

/** A change of an account's counts. */
export interface CountsEvent {
  readonly account: string;
  /** The account badge after the change. */
  readonly badge: number;
  readonly previousBadge: number;
  /** Threads whose unread count or mute changed. */
  readonly threads: readonly string[];
}

/** Events of one Account. */
export interface AccountEvents {
  counts: CountsEvent;
  status: AccountStatus;
  /** Something failed that no call could throw: storage, a queued intent, a push registration. */
  error: Error;
}

/** What an Account is built from (BadgeSync fills it in). */
export interface AccountDeps {
  readonly id: AccountId;
  readonly deviceId: DeviceId;
  readonly credentials: Credentials;
  readonly storage: BadgeSyncStorage;
  readonly endpoints: Endpoints;
  readonly WebSocket: WebSocketConstructor;
  readonly network: NetworkMonitor;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  readonly stableMs: number;
  readonly backoff: BackoffOptions;
  readonly fetch: FetchLike;
}

/** Transaction origin of this device's own writes. */
const LOCAL = Symbol('badgesync local write');

/** How the replica was opened. */
interface Opening {
  /** The stored client ID is reused (SPEC SDK-12). */
  readonly reused: boolean;
  /** The stored replica held v1 content and was dropped (its metadata says so already). */
  readonly dropped: boolean;
  /** The dropped replica's counts, shown until the fresh sync. */
  readonly frozen: AccountCounts | null;
}

/**
 * One signed-in account on this device: its replica of the account document, live counts,
 * the sync connection, and the device's writes (SPEC SDK-1..SDK-13). Every write goes
 * through shared's planners; a replica that never completed a sync queues its writes until
 * it has (SDK-2). Get one from `BadgeSync.signIn`.
 */
export class Account {
  /** The account ID. */
  readonly id: AccountId;
  readonly #deps: AccountDeps;
  #doc: Y.Doc;
  /** This device's own array, the only thing it writes (SPEC SDK-10). */
  #own: KeyValueArray;
  #tracker: CountsTracker;
  #offCounts: () => void;
  readonly #replica: StoredReplica;
  readonly #clientIdReused: boolean;
  /** The replica was dropped and has not synced since: a second 4410 now is not retried. */
  #resetSinceSync: boolean;
  /**
   * While a dropped replica has not synced afresh: the counts it showed before the drop, which
   * the account keeps answering (SDK-11), so an upgrade or a 4410 does not blank the badge.
   */
  #frozen: AccountCounts | null;
  readonly #tokens: TokenSource;
  readonly #connection: Connection;
  readonly #events: Emitter<AccountEvents>;
  readonly #work = new Set<Promise<unknown>>();
  /** Pending whenSynced() calls, rejected on close(). */
  readonly #waiters = new Set<(error: Error) => void>();
  #syncedOnce: boolean;
  #pending: Intent[];
  #closed = false;

  private constructor(
    deps: AccountDeps,
    doc: Y.Doc,
    replica: StoredReplica,
    events: Emitter<AccountEvents>,
    opening: Opening,
  ) {
    this.id = deps.id;
    this.#deps = deps;
    this.#doc = doc;
    this.#own = new KeyValueArray(doc, deviceRoot(deps.deviceId));
    this.#tracker = new CountsTracker(doc);
    this.#offCounts = this.#followCounts(this.#tracker);
    this.#replica = replica;
    this.#events = events;
    this.#clientIdReused = opening.reused;
    this.#resetSinceSync = opening.dropped;
    this.#frozen = opening.frozen;
    const meta = replica.meta;
    const ours = meta !== null && meta.deviceId === deps.deviceId;
    // A dropped replica's metadata was saved before the drop: not synced, the kept writes queued.
    this.#syncedOnce = ours && meta.syncedOnce;
    this.#pending = ours ? [...meta.pending] : [];
    this.#tokens = new TokenSource(deps.credentials);
    this.#connection = new Connection({
      doc,
      url: (token) => deps.endpoints.sync(deps.id, token),
      tokens: this.#tokens,
      WebSocket: deps.WebSocket,
      backoff: new Backoff(deps.backoff),
      network: deps.network,
      clock: deps.clock,
      heartbeatMs: deps.heartbeatMs,
      stableMs: deps.stableMs,
      onStatus: (status) => events.emit('status', status),
      onSynced: () => this.#onSynced(),
      onReplicaOutdated: () => this.#track(this.#dropReplica(), false),
    });
  }

  /**
   * Loads the stored replica (counts are right from here on, before any network), then starts
   * syncing. A stored replica with v1 content is dropped first (SPEC SDK-11); the stored client
   * ID is reused only when this instance holds the replica's lock (SPEC SDK-12).
   */
  static async open(deps: AccountDeps): Promise<Account> {
    let doc = new Y.Doc();
    const events = new Emitter<AccountEvents>();
    let replica: StoredReplica;
    try {
      // Deferred a turn: an error while opening is then heard by listeners attached after signIn.
      const onError = (error: Error) => deps.clock.setTimeout(() => events.emit('error', error), 0);
      replica = await deps.storage.open(deps.id, doc, onError);
    } catch (err) {
      doc.destroy();
      throw err;
    }
    try {
      const meta = replica.meta;
      const ours = meta !== null && meta.deviceId === deps.deviceId;
      let kept: Intent[] | null = null;
      let frozen: AccountCounts | null = null;
      if (hasV1Content(doc)) {
        kept = keptWrites(doc, deps.deviceId);
        frozen = deriveV1Counts(doc);
        // Stored before the drop: a crash in between must not leave an empty replica "synced once".
        await replica.saveMeta({
          deviceId: deps.deviceId,
          syncedOnce: false,
          pending: [...(ours ? meta.pending : []), ...kept],
        });
        const fresh = new Y.Doc();
        await replica.reset(fresh);
        doc.destroy();
        doc = fresh;
      }
      const stored = ours && kept === null ? meta : null;
      const reused =
        replica.exclusive &&
        stored?.clientId !== undefined &&
        stored.clientClock !== undefined &&
        Y.getState(doc.store, stored.clientId) === stored.clientClock;
      // Only this instance writes with the ID while it holds the lock; loading the replica wrote nothing.
      if (reused) doc.clientID = stored.clientId as number;
      const account = new Account(deps, doc, replica, events, { reused, dropped: kept !== null, frozen });
      // Claims the client ID (no clean clock) before anything is written with it.
      await replica.saveMeta(account.#meta(false));
      account.#connection.start();
      return account;
    } catch (err) {
      await replica.close().catch(() => undefined);
      doc.destroy();
      throw err;
    }
  }

  /** Listens to `counts`, `status` or `error`; returns a function that unsubscribes. */
  on<K extends keyof AccountEvents>(event: K, listener: (payload: AccountEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** The sync state of this account. */
  get status(): AccountStatus {
    return this.#connection.status;
  }

  /** Whether this replica ever completed a sync; until then marker writes wait (SDK-2). */
  get syncedOnce(): boolean {
    return this.#syncedOnce;
  }

  /** This replica's Yjs client ID (SPEC SDK-12). */
  get clientId(): number {
    return this.#doc.clientID;
  }

  /**
   * Whether this session reuses the client ID its replica used before (SPEC SDK-12): only when
   * this instance holds the replica's lock and the last session closed cleanly. Otherwise the
   * session writes under a fresh ID, which costs the document a few bytes per session.
   */
  get clientIdReused(): boolean {
    return this.#clientIdReused;
  }

  /** Writes asked for before the first sync, waiting for it. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** The account badge: unread items over threads that are not muted. */
  get badge(): number {
    return this.#frozen?.badge ?? this.#tracker.badge;
  }

  /** Unread items of one thread (muted or not). */
  unread(thread: string): number {
    const id = parseThreadId(thread);
    return this.#frozen === null ? this.#tracker.unread(id) : (this.#frozen.threads[id] ?? 0);
  }

  /** Whether a thread is muted. */
  isMuted(thread: string): boolean {
    const id = parseThreadId(thread);
    return this.#frozen === null ? this.#tracker.isMuted(id) : this.#frozen.muted.includes(id);
  }

  /** The account's counts, in the shape of `GET /v1/accounts/{a}/badge`. */
  counts(): AccountCounts {
    return this.#frozen ?? this.#tracker.counts();
  }

  /**
   * Marks a thread read up to item `seq` (clamped to the newest item this replica knows).
   * Never lowers anything: reading less than is already read does nothing.
   */
  markRead(thread: string, seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`seq must be an integer ≥ 0, got ${seq}`);
    this.#write({ kind: 'read', thread: parseThreadId(thread), seq });
  }

  /**
   * Marks a thread unread from item `fromSeq` on, for every device (a new epoch). Throws
   * RangeError after too many mark-as-unreads of one thread while offline.
   */
  markUnread(thread: string, fromSeq: number): void {
    if (!Number.isSafeInteger(fromSeq) || fromSeq < 1) {
      throw new RangeError(`fromSeq must be an integer ≥ 1, got ${fromSeq}`);
    }
    this.#write({ kind: 'unread', thread: parseThreadId(thread), fromSeq });
  }

  /** Marks every thread read up to its newest item. */
  markAllRead(): void {
    this.#write({ kind: 'all-read' });
  }

  /** Mutes a thread (its unread items leave the badge) or unmutes it. */
  mute(thread: string, on: boolean): void {
    if (typeof on !== 'boolean') throw new TypeError('mute(thread, on) needs a boolean');
    this.#write({ kind: 'mute', thread: parseThreadId(thread), on });
  }

  /**
   * Resolves when the account is synced (at once if it is); rejects when it stops with an
   * error, is signed out, or `timeoutMs` passes.
   */
  whenSynced(timeoutMs = Number.POSITIVE_INFINITY): Promise<void> {
    const now = this.status;
    if (now.state === 'synced') return Promise.resolve();
    if (now.state === 'error') return Promise.reject(new Error(`sync stopped: ${now.code} ${now.reason}`));
    if (this.#closed) return Promise.reject(new Error('signed out'));
    return new Promise((resolve, reject) => {
      let timer: unknown = null;
      const off = this.on('status', (status) => {
        if (status.state === 'synced') finish(null);
        else if (status.state === 'error') finish(new Error(`sync stopped: ${status.code} ${status.reason}`));
      });
      const finish = (error: Error | null) => {
        off();
        this.#waiters.delete(finish);
        if (timer !== null) this.#deps.clock.clearTimeout(timer);
        if (error === null) resolve();
        else reject(error);
      };
      this.#waiters.add(finish);
      if (Number.isFinite(timeoutMs)) {
        timer = this.#deps.clock.setTimeout(
          () => finish(new Error(`not synced within ${timeoutMs} ms (${this.status.state})`)),
          timeoutMs,
        );
      }
    });
  }

  /** Connects now: after an error, or to skip the wait before the next reconnect. */
  reconnect(): void {
    this.#connection.retryNow();
  }

  /** Replaces the credentials (BadgeSync.signIn of an account already signed in). */
  setCredentials(credentials: Credentials): void {
    this.#tokens.replace(credentials);
    if (this.status.state === 'error') this.#connection.retryNow();
  }

  /**
   * Registers this device for badge pushes of this account (`PUT
   * /v1/accounts/{a}/devices/{d}` with the device token), which also signs the device in
   * on the server. Needs the network; throws BadgeSyncHttpError when the server refuses.
   */
  async registerPush(registration: PushRegistration): Promise<RegisteredDevice> {
    return (await this.#deviceCall('PUT', registrationBody(registration))) as RegisteredDevice;
  }

  /** Signs this device out of the account on the server (`DELETE …/devices/{d}`): no more pushes. */
  async unregister(): Promise<void> {
    await this.#deviceCall('DELETE');
  }

  /** Stops syncing and closes the stored replica (BadgeSync.signOut and close call this). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const finish of [...this.#waiters]) finish(new Error('signed out'));
    this.#connection.close();
    await Promise.allSettled([...this.#work]);
    this.#offCounts();
    this.#tracker.destroy();
    if (this.#replica.exclusive) {
      // The clean clock: every write of this ID is stored, so the next session may reuse it.
      await this.#replica.saveMeta(this.#meta(true)).catch((err: unknown) => this.#events.emit('error', err as Error));
    }
    await this.#replica.close();
    this.#doc.destroy();
    this.#events.clear();
  }

  async #deviceCall(method: 'PUT' | 'DELETE', body?: unknown): Promise<unknown> {
    const url = `${this.#deps.endpoints.http}/v1/accounts/${encodeURIComponent(this.id)}/devices/${encodeURIComponent(this.#deps.deviceId)}`;
    const call = async () => deviceRequest(this.#deps.fetch, url, method, await this.#tokens.current(), body);
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof BadgeSyncHttpError) || err.status !== 401 || !this.#tokens.canRefresh) throw err;
      this.#tokens.invalidate();
      return call();
    }
  }

  #write(intent: Intent): void {
    if (this.#closed) throw new Error(`account ${this.id} is signed out`);
    if (!this.#syncedOnce) {
      this.#pending.push(intent);
      this.#saveMeta();
      return;
    }
    this.#doc.transact(() => applyIntent(this.#tracker, this.#own, this.#deps.deviceId, intent), LOCAL);
  }

  /** The first sync completed: the replica now holds the server's markers, so queued writes are safe. */
  #onSynced(): void {
    this.#resetSinceSync = false;
    if (this.#syncedOnce) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#doc.transact(() => {
      for (const intent of pending) {
        try {
          applyIntent(this.#tracker, this.#own, this.#deps.deviceId, intent);
        } catch (err) {
          this.#events.emit('error', err as Error);
        }
      }
    }, LOCAL);
    this.#syncedOnce = true;
    this.#saveMeta();
    this.#thaw();
  }

  /** A dropped replica synced afresh: its own counts replace the ones shown meanwhile. */
  #thaw(): void {
    const before = this.#frozen;
    if (before === null) return;
    this.#frozen = null;
    const now = this.#tracker.counts();
    const threads = [...new Set([...Object.keys(before.threads), ...Object.keys(now.threads)])].filter(
      (t) => before.threads[t] !== now.threads[t] || before.muted.includes(t) !== now.muted.includes(t),
    );
    if (threads.length === 0 && before.badge === now.badge) return;
    this.#events.emit('counts', {
      account: this.id,
      badge: now.badge,
      previousBadge: before.badge,
      threads: threads.sort(),
    });
  }

  #saveMeta(): void {
    void this.#track(this.#replica.saveMeta(this.#meta(false)));
  }

  /**
   * The metadata now. The lock holder names its client ID, with the clean clock only at close
   * (`clean`); an instance without the lock names none, so the next session cannot take its
   * copy of an older clean clock for the holder's.
   */
  #meta(clean: boolean): ReplicaMeta {
    const base = { deviceId: this.#deps.deviceId, syncedOnce: this.#syncedOnce, pending: [...this.#pending] };
    if (!this.#replica.exclusive) return base;
    const clientId = this.#doc.clientID;
    return clean ? { ...base, clientId, clientClock: Y.getState(this.#doc.store, clientId) } : { ...base, clientId };
  }

  /**
   * The server closed 4410 (SPEC SDK-11): this device's writes in the replica become intents,
   * the replica is dropped for an empty document, and the connection syncs it afresh; the
   * intents apply after that sync, like any write queued before a first sync (SDK-2).
   */
  async #dropReplica(): Promise<void> {
    if (this.#closed) throw new Error('signed out');
    if (this.#resetSinceSync) throw new Error('the server refused a fresh replica as outdated');
    this.#pending = [...this.#pending, ...keptWrites(this.#doc, this.#deps.deviceId)];
    this.#syncedOnce = false;
    // What the app showed stays until the fresh sync (a v1 part of the document counts nothing in v2).
    this.#frozen ??= this.#tracker.counts();
    await this.#replica.saveMeta(this.#meta(false));
    const old = { doc: this.#doc, tracker: this.#tracker, offCounts: this.#offCounts };
    const fresh = new Y.Doc();
    await this.#replica.reset(fresh);
    this.#doc = fresh;
    this.#own = new KeyValueArray(fresh, deviceRoot(this.#deps.deviceId));
    this.#tracker = new CountsTracker(fresh);
    this.#offCounts = this.#followCounts(this.#tracker);
    this.#connection.useDoc(fresh);
    // Set once the drop is done: a drop that failed halfway is tried again on the next 4410.
    this.#resetSinceSync = true;
    old.offCounts();
    old.tracker.destroy();
    old.doc.destroy();
    // The fresh document's client ID, claimed (no clean clock).
    await this.#replica.saveMeta(this.#meta(false));
  }

  #followCounts(tracker: CountsTracker): () => void {
    return tracker.onChange((change) => {
      // Frozen: the app sees the dropped replica's counts until #thaw reports the difference.
      if (this.#frozen !== null) return;
      this.#events.emit('counts', {
        account: this.id,
        badge: change.badge,
        previousBadge: change.previousBadge,
        threads: change.threads,
      });
    });
  }

  /**
   * Keeps a background job awaited by close(). Its failure becomes an `error` event, unless
   * `report` is false: then the returned promise rejects with it, for the caller to handle.
   */
  #track(work: Promise<void>, report = true): Promise<void> {
    const tracked: Promise<void> = work
      .then(
        () => undefined,
        (err: unknown) => {
          if (report) this.#events.emit('error', err instanceof Error ? err : new Error(String(err)));
        },
      )
      .then(() => {
        this.#work.delete(tracked);
      });
    this.#work.add(tracked);
    return report ? tracked : work;
  }
}
