/**
 * One simulated device on the real SDK. Its app is in the foreground (a BadgeSync with
 * every signed-in account, syncing through the device's link) or in the background (the
 * app suspended: its BadgeSync closed, its replica kept in a MemoryStorage as on disk, and
 * — for an iPhone-like device — its APNs token still registered).
 *
 * What it shows (README "Definitions"): in the foreground, the badge its SDK computes; in
 * the background, the last badge APNs accepted for its token (0 before any), or for a
 * web-only device its last local badge, which is not judged.
 *
 * Every action goes through one queue per device, in plan order, as one app would do them.
 */
import { type AccountState, BadgeSync, type FetchLike, MemoryStorage, type NetworkMonitor } from '@badgesync/client';
import { WebSocket } from 'ws';
import { api, deviceToken } from '../helpers/api-client.js';
import { TIMINGS } from './config.js';
import type { ChaosLink } from './link.js';
import type { Random } from './random.js';
import type { DeviceKind } from './schedule.js';

/** A device's HTTP call gives up after 2 s: a blackholed one would otherwise hang the app's queue. */
const HTTP_TIMEOUT_MS = 2_000;
/** close() waits this long for the app's queue: a call stuck on a dead server must not hang the run. */
const CLOSE_WAIT_MS = 5_000;
/** Device tokens live an hour: longer than any run. */
const TOKEN_TTL_S = 3_600;

/** The backend's side of a device: the server as the app's backend reaches it (no faulty link). */
export interface Backend {
  readonly http: string;
  readonly apiKey: string;
  readonly deviceSecret: string;
}

/** A NetworkMonitor the run flips: the OS noticing a clean drop, and the network's return. */
export class ManualNetwork implements NetworkMonitor {
  #online = true;
  readonly #listeners = new Set<(online: boolean) => void>();

  get online(): boolean {
    return this.#online;
  }

  set(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    for (const listener of [...this.#listeners]) listener(online);
  }

  subscribe(listener: (online: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export interface SimDeviceOptions {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly apnsToken: string | null;
  readonly link: ChaosLink;
  readonly backend: () => Backend;
  readonly random: Random;
  /** Called whenever what it shows, its accounts or a connection status may have changed. */
  readonly changed: (cause: string) => void;
  /** An error worth counting (the app would log it). */
  readonly failed: (what: string, error: unknown) => void;
}

export class SimDevice {
  readonly id: string;
  readonly kind: DeviceKind;
  readonly apnsToken: string | null;
  readonly link: ChaosLink;
  readonly network = new ManualNetwork();
  /** Accounts this device is signed in to (the app's list; the server's after each call). */
  readonly accounts = new Set<string>();
  /** The last badge APNs accepted for its token. */
  apnsShown = 0;
  #foreground = false;
  #sync: BadgeSync | null = null;
  #lastLocal = 0;
  readonly #storage = new MemoryStorage();
  readonly #options: SimDeviceOptions;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: SimDeviceOptions) {
    this.#options = options;
    this.id = options.id;
    this.kind = options.kind;
    this.apnsToken = options.apnsToken;
    this.link = options.link;
  }

  get foreground(): boolean {
    return this.#foreground;
  }

  /** The badge on the device right now. */
  get shown(): number {
    if (this.#foreground && this.#sync !== null) return this.#sync.badge;
    return this.apnsToken === null ? this.#lastLocal : this.apnsShown;
  }

  /** The accounts the shown badge sums over: the SDK's while in the foreground. */
  get shownAccounts(): string[] {
    if (this.#foreground && this.#sync !== null) return this.#sync.accounts.map((account) => account.id);
    return [...this.accounts];
  }

  /** The SDK's sync state of an account (null in the background or when not signed in). */
  status(account: string): AccountState | null {
    if (!this.#foreground) return null;
    return this.#sync?.account(account)?.status.state ?? null;
  }

  /** Local counts of an account (foreground only), for the final check. */
  counts(account: string) {
    return this.#foreground ? (this.#sync?.account(account)?.counts() ?? null) : null;
  }

  /** Runs `work` after everything queued before it; failures are counted, never thrown. */
  enqueue(what: string, work: () => Promise<void> | void): void {
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      try {
        await work();
      } catch (err) {
        this.#options.failed(what, err);
      }
    });
  }

  /** Resolves once everything queued so far ran. */
  idle(): Promise<void> {
    return this.#queue;
  }

  /** The app comes to the foreground: a new BadgeSync on the kept replica, every account signed in. */
  async toForeground(): Promise<void> {
    if (this.#foreground) return;
    const sync = new BadgeSync({
      serverUrl: this.link.wsUrl,
      httpUrl: this.link.httpUrl,
      deviceId: this.id,
      storage: this.#storage,
      WebSocket,
      heartbeatMs: TIMINGS.sdkHeartbeatMs,
      backoff: { ...TIMINGS.sdkBackoff, random: () => this.#options.random.next() },
      network: this.network,
      fetch: timedFetch,
    });
    sync.on('counts', () => this.#options.changed('counts'));
    sync.on('status', () => this.#options.changed('status'));
    sync.on('error', ({ account, error }) => this.#options.failed(`sdk error (${account})`, error));
    for (const account of this.accounts) await sync.signIn(account, { getToken: () => this.#token(account) });
    this.#sync = sync;
    this.#foreground = true;
    this.#options.changed('foreground');
  }

  /** The app is suspended: it shows what APNs gave it from now on; its connections close. */
  async toBackground(): Promise<void> {
    const sync = this.#sync;
    if (!this.#foreground || sync === null) return;
    this.#lastLocal = sync.badge;
    this.#foreground = false;
    this.#sync = null;
    this.#options.changed('background');
    await sync.close();
  }

  /**
   * Signs in to an account (foreground): the SDK opens it, then the device registers
   * through its own link with its device token (the SDK's registerPush for an iPhone, the
   * contract's PUT for a web app). If that call fails the app's backend registers it
   * instead; if that fails too, the sign-in is undone.
   */
  async signIn(account: string): Promise<void> {
    const sync = this.#sync;
    if (sync === null || this.accounts.has(account)) return;
    const opened = await sync.signIn(account, { getToken: () => this.#token(account) });
    try {
      if (this.apnsToken !== null) {
        await opened.registerPush({ apnsToken: this.apnsToken, environment: 'production', badges: true });
      } else {
        // The contract's registration without a token: what a web app's client calls.
        const answer = await timedFetch(`${this.link.httpUrl}${this.#route(account)}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${await this.#token(account)}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await answer.text();
        if (answer.status !== 200) throw new Error(`PUT device ${answer.status}`);
      }
    } catch (err) {
      this.#options.failed('sign-in through the device link', err);
      try {
        await this.#backendCall('PUT', account, this.apnsToken === null ? {} : { apnsToken: this.apnsToken });
      } catch (again) {
        await sync.signOut(account);
        await this.#backendCall('DELETE', account).catch(() => {});
        throw again;
      }
    }
    this.accounts.add(account);
    this.#options.changed('sign-in');
  }

  /** Signs out of an account (foreground) through the SDK; the backend does it if that call fails. */
  async signOut(account: string): Promise<void> {
    const sync = this.#sync;
    if (sync === null || !this.accounts.has(account)) return;
    try {
      await sync.signOut(account, { unregister: true });
    } catch (err) {
      this.#options.failed('sign-out through the device link', err);
      await this.#backendCall('DELETE', account);
      await sync.signOut(account);
    }
    this.accounts.delete(account);
    this.#options.changed('sign-out');
  }

  /** Reads a thread up to `seq` (the SDK clamps it to the head it knows). */
  read(account: string, thread: string, seq: number): void {
    this.#sync?.account(account)?.markRead(thread, seq);
  }

  readAll(account: string): void {
    this.#sync?.account(account)?.markAllRead();
  }

  /** Marks a thread unread from `fromSeq`; the SDK refuses after too many offline (ignored). */
  unread(account: string, thread: string, fromSeq: number): void {
    try {
      this.#sync?.account(account)?.markUnread(thread, fromSeq);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
    }
  }

  mute(account: string, thread: string, on: boolean): void {
    this.#sync?.account(account)?.mute(thread, on);
  }

  /** Stops the app for good (end of the run), after what is queued (given a few seconds at most). */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#queue, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    this.#closed = true;
    const sync = this.#sync;
    this.#sync = null;
    await sync?.close();
  }

  #token(account: string): Promise<string> {
    return deviceToken(this.#options.backend(), account, this.id, TOKEN_TTL_S);
  }

  #route(account: string): string {
    return `/v1/accounts/${account}/devices/${this.id}`;
  }

  async #backendCall(method: 'PUT' | 'DELETE', account: string, body?: unknown): Promise<void> {
    const answer = await api(this.#options.backend(), method, this.#route(account), body);
    if (answer.status !== 200) throw new Error(`backend ${method} device ${answer.status}`);
  }
}

/** fetch with a timeout, as the SDK's FetchLike. */
const timedFetch: FetchLike = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
