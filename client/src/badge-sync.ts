import { type AccountId, type DeviceId, deviceBadge, parseAccountId, parseDeviceId } from '@badgesync/shared';
import { Account, type CountsEvent } from './account.js';
import type { BackoffOptions } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import { Emitter } from './emitter.js';
import { type Endpoints, endpoints } from './endpoints.js';
import type { FetchLike, PushRegistration } from './push.js';
import type { AccountStatus } from './status.js';
import type { BadgeSyncStorage } from './storage/storage.js';
import { Timing } from './timing.js';
import type { Credentials } from './token-source.js';
import { type NetworkMonitor, platformNetwork, type WebSocketConstructor } from './websocket-like.js';

/** Options of a BadgeSync. */
export interface BadgeSyncOptions {
  /** The sync server, `ws(s)://host:port` (a path prefix is kept; a trailing `/v1/sync` is allowed). */
  readonly serverUrl: string;
  /** This installation's stable device ID (`^[A-Za-z0-9_.:@-]{1,128}$`, not `@server`); the device tokens name it. */
  readonly deviceId: string;
  /** Where replicas persist: IndexedDbStorage in browsers, FileStorage in Node, MemoryStorage for none. */
  readonly storage: BadgeSyncStorage;
  /** The WebSocket class; default `globalThis.WebSocket`. In Node 20, pass `WebSocket` from `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** The backend API's http(s) base for registerPush; default derived from serverUrl. */
  readonly httpUrl?: string;
  /** Liveness interval (ms): a probe after this much silence, reconnect after twice it. Default 10 s. */
  readonly heartbeatMs?: number;
  /** Reconnect backoff (ms ceilings; an injectable random for tests). */
  readonly backoff?: BackoffOptions;
  /** The fetch function for registerPush; default `globalThis.fetch`. */
  readonly fetch?: FetchLike;
  /** Network state; default the platform's (`navigator.onLine` and its events in browsers). */
  readonly network?: NetworkMonitor;
  /** Time and timers; default the platform's. For tests. */
  readonly clock?: Clock;
}

/** A change of counts on this device. */
export interface DeviceCountsEvent extends CountsEvent {
  /** The device badge: the sum of every signed-in account's badge. */
  readonly deviceBadge: number;
}

/** Events of a BadgeSync: those of every account, tagged with it. */
export interface BadgeSyncEvents {
  counts: DeviceCountsEvent;
  status: { readonly account: string; readonly status: AccountStatus };
  error: { readonly account: string; readonly error: Error };
}

/**
 * The SDK's one object per device (SPEC SDK-1): signs the device in to accounts, keeps
 * each account's document synced and persisted, and answers the counts and the device
 * badge, online or offline.
 *
 * ```ts
 * const sync = new BadgeSync({ serverUrl: 'wss://sync.example.com', deviceId, storage: new IndexedDbStorage() });
 * const alice = await sync.signIn('alice', { getToken: () => myBackend.deviceToken('alice') });
 * sync.on('counts', (e) => setAppBadge(e.deviceBadge));
 * alice.markRead('inbox', 42);
 * ```
 */
export class BadgeSync {
  /** This device's ID. */
  readonly deviceId: DeviceId;
  readonly #options: BadgeSyncOptions;
  readonly #endpoints: Endpoints;
  readonly #WebSocket: WebSocketConstructor;
  readonly #network: NetworkMonitor;
  readonly #accounts = new Map<AccountId, Account>();
  readonly #opening = new Map<AccountId, Promise<Account>>();
  readonly #events = new Emitter<BadgeSyncEvents>();
  /** Registrations started by signIn, awaited by close(). */
  readonly #background = new Set<Promise<void>>();
  #push: PushRegistration | null = null;
  #closed = false;

  constructor(options: BadgeSyncOptions) {
    this.deviceId = parseDeviceId(options.deviceId);
    this.#options = options;
    this.#endpoints = endpoints(options.serverUrl, options.httpUrl);
    const WebSocketClass =
      options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor | undefined }).WebSocket;
    if (WebSocketClass === undefined) {
      throw new TypeError("no WebSocket here: pass { WebSocket } (in Node: import { WebSocket } from 'ws')");
    }
    this.#WebSocket = WebSocketClass;
    this.#network = options.network ?? platformNetwork();
  }

  /** Listens to `counts`, `status` or `error` of every account; returns a function that unsubscribes. */
  on<K extends keyof BadgeSyncEvents>(event: K, listener: (payload: BadgeSyncEvents[K]) => void): () => void {
    return this.#events.on(event, listener);
  }

  /** The signed-in accounts. */
  get accounts(): readonly Account[] {
    return [...this.#accounts.values()];
  }

  /** A signed-in account, or undefined. */
  account(id: string): Account | undefined {
    return this.#accounts.get(id as AccountId);
  }

  /** The device badge: the sum of the badges of every signed-in account. */
  get badge(): number {
    return deviceBadge([...this.#accounts.values()].map((account) => account.badge));
  }

  /**
   * Signs this device in to `account`: loads its stored replica (resolving once counts
   * are available, before any network) and starts syncing. Signing in again to the same
   * account replaces its credentials and retries a stopped connection.
   */
  async signIn(account: string, credentials: Credentials): Promise<Account> {
    if (this.#closed) throw new Error('this BadgeSync is closed');
    const id = parseAccountId(account);
    const existing = this.#accounts.get(id);
    if (existing !== undefined) {
      existing.setCredentials(credentials);
      return existing;
    }
    const opening = this.#opening.get(id);
    if (opening !== undefined) return opening;
    const work = this.#open(id, credentials);
    this.#opening.set(id, work);
    try {
      return await work;
    } finally {
      this.#opening.delete(id);
    }
  }

  async #open(id: AccountId, credentials: Credentials): Promise<Account> {
    const options = this.#options;
    const opened = await Account.open({
      id,
      deviceId: this.deviceId,
      credentials,
      storage: options.storage,
      endpoints: this.#endpoints,
      WebSocket: this.#WebSocket,
      network: this.#network,
      clock: options.clock ?? systemClock,
      heartbeatMs: options.heartbeatMs ?? Timing.heartbeatMs,
      stableMs: Math.max(Timing.stableConnectionMs, 2 * (options.heartbeatMs ?? Timing.heartbeatMs)),
      backoff: options.backoff ?? {},
      fetch: options.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    });
    if (this.#closed) {
      await opened.close();
      throw new Error('this BadgeSync is closed');
    }
    this.#accounts.set(id, opened);
    opened.on('counts', (change) => this.#events.emit('counts', { ...change, deviceBadge: this.badge }));
    opened.on('status', (status) => this.#events.emit('status', { account: id, status }));
    opened.on('error', (error) => this.#events.emit('error', { account: id, error }));
    if (opened.badge !== 0) {
      this.#events.emit('counts', {
        account: id,
        badge: opened.badge,
        previousBadge: 0,
        threads: [],
        deviceBadge: this.badge,
      });
    }
    const push = this.#push;
    if (push !== null) {
      const registering: Promise<void> = opened
        .registerPush(push)
        .then(
          () => undefined,
          (error: unknown) => this.#events.emit('error', { account: id, error: error as Error }),
        )
        .then(() => {
          this.#background.delete(registering);
        });
      this.#background.add(registering);
    }
    return opened;
  }

  /**
   * Signs this device out of `account` locally (stops syncing; the stored replica stays, so
   * signing in again is instant). With `unregister`, also tells the server (no more pushes
   * for it): that needs the network and throws if the server cannot be reached.
   */
  async signOut(account: string, options: { readonly unregister?: boolean } = {}): Promise<void> {
    const id = parseAccountId(account);
    const found = this.#accounts.get(id);
    if (found === undefined) return;
    if (options.unregister === true) await found.unregister();
    this.#accounts.delete(id);
    const before = found.badge;
    await found.close();
    if (before !== 0) {
      this.#events.emit('counts', {
        account: id,
        badge: 0,
        previousBadge: before,
        threads: [],
        deviceBadge: this.badge,
      });
    }
  }

  /**
   * Registers this device for badge pushes with every signed-in account (and every
   * account signed in later). Resolves when the server stored it for all of them.
   */
  async registerPush(registration: PushRegistration): Promise<void> {
    this.#push = registration;
    await Promise.all([...this.#accounts.values()].map((account) => account.registerPush(registration)));
  }

  /** Stops every account's sync and closes the storage. The object is unusable afterwards. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#opening.values(), ...this.#background]);
    const accounts = [...this.#accounts.values()];
    this.#accounts.clear();
    await Promise.all(accounts.map((account) => account.close()));
    this.#events.clear();
  }
}
