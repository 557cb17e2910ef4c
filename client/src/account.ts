import {
  type AccountCounts,
  type AccountId,
  type AccountMaps,
  accountMaps,
  CountsTracker,
  type DeviceId,
  parseThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import type { Endpoints } from './endpoints.js';
import { applyIntent, type Intent } from './intents.js';
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

/**
 * One signed-in account on this device: its replica of the account document, live counts,
 * the sync connection, and the device's writes (SPEC SDK-1..SDK-9). Every write goes
 * through shared's planners; a replica that never completed a sync queues its writes until
 * it has (SDK-2). Get one from `BadgeSync.signIn`.
 */
export class Account {
  /** The account ID. */
  readonly id: AccountId;
  readonly #deps: AccountDeps;
  readonly #doc: Y.Doc;
  readonly #maps: AccountMaps;
  readonly #tracker: CountsTracker;
  readonly #replica: StoredReplica;
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
    tracker: CountsTracker,
    replica: StoredReplica,
    events: Emitter<AccountEvents>,
  ) {
    this.id = deps.id;
    this.#deps = deps;
    this.#doc = doc;
    this.#maps = accountMaps(doc);
    this.#tracker = tracker;
    this.#replica = replica;
    this.#events = events;
    const meta = replica.meta;
    const ours = meta !== null && meta.deviceId === deps.deviceId;
    this.#syncedOnce = ours && meta.syncedOnce;
    this.#pending = ours ? [...meta.pending] : [];
    this.#tokens = new TokenSource(deps.credentials);
    tracker.onChange((change) =>
      events.emit('counts', {
        account: this.id,
        badge: change.badge,
        previousBadge: change.previousBadge,
        threads: change.threads,
      }),
    );
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
    });
  }

  /** Loads the stored replica (counts are right from here on, before any network), then starts syncing. */
  static async open(deps: AccountDeps): Promise<Account> {
    const doc = new Y.Doc();
    const tracker = new CountsTracker(doc);
    const events = new Emitter<AccountEvents>();
    let replica: StoredReplica;
    try {
      // Deferred a turn: an error while opening is then heard by listeners attached after signIn.
      const onError = (error: Error) => deps.clock.setTimeout(() => events.emit('error', error), 0);
      replica = await deps.storage.open(deps.id, doc, onError);
    } catch (err) {
      tracker.destroy();
      doc.destroy();
      throw err;
    }
    const account = new Account(deps, doc, tracker, replica, events);
    account.#connection.start();
    return account;
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

  /** Writes asked for before the first sync, waiting for it. */
  get pendingWrites(): number {
    return this.#pending.length;
  }

  /** The account badge: unread items over threads that are not muted. */
  get badge(): number {
    return this.#tracker.badge;
  }

  /** Unread items of one thread (muted or not). */
  unread(thread: string): number {
    return this.#tracker.unread(parseThreadId(thread));
  }

  /** Whether a thread is muted. */
  isMuted(thread: string): boolean {
    return this.#tracker.isMuted(parseThreadId(thread));
  }

  /** The account's counts, in the shape of `GET /v1/accounts/{a}/badge`. */
  counts(): AccountCounts {
    return this.#tracker.counts();
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
    this.#tracker.destroy();
    await Promise.allSettled([...this.#work]);
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
    this.#doc.transact(() => applyIntent(this.#tracker, this.#maps, this.#deps.deviceId, intent), LOCAL);
  }

  /** The first sync completed: the replica now holds the server's markers, so queued writes are safe. */
  #onSynced(): void {
    if (this.#syncedOnce) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#doc.transact(() => {
      for (const intent of pending) {
        try {
          applyIntent(this.#tracker, this.#maps, this.#deps.deviceId, intent);
        } catch (err) {
          this.#events.emit('error', err as Error);
        }
      }
    }, LOCAL);
    this.#syncedOnce = true;
    this.#saveMeta();
  }

  #saveMeta(): void {
    const meta: ReplicaMeta = {
      deviceId: this.#deps.deviceId,
      syncedOnce: this.#syncedOnce,
      pending: [...this.#pending],
    };
    this.#track(this.#replica.saveMeta(meta));
  }

  /** Keeps a background write awaited by close(); its failure becomes an `error` event. */
  #track(work: Promise<unknown>): void {
    const tracked: Promise<void> = work
      .then(
        () => undefined,
        (err: unknown) => this.#events.emit('error', err instanceof Error ? err : new Error(String(err))),
      )
      .then(() => {
        this.#work.delete(tracked);
      });
    this.#work.add(tracked);
  }
}
