/**
 * The truth during the run: each account's committed badge, as the server's own state
 * says it. One watcher per account — a stock y-websocket provider (not the SDK) connected
 * straight to the server, no faulty link between — keeps a replica and derives counts with
 * shared's CountsTracker. The server relays an update only once it is on disk (SPEC SYNC-5),
 * at the same moment it hands the new counts to push, so a watcher's badge changes when the
 * committed badge does, give or take a loopback hop. After the run, every watcher is checked
 * against `GET /v1/accounts/{a}/badge` (the stored counts), and the final truth is taken from
 * there.
 */
import { type AccountCounts, CountsTracker, type ThreadId } from '@badgesync/shared';
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { deviceToken } from '../helpers/api-client.js';

/**
 * Each watcher connects from its own loopback address: the server allows 100 upgrades at
 * once per address before authentication, and after a restart every watcher reconnects in the
 * same instant. From one address the last ones would wait seconds, and the truth with them.
 */
export function watcherAddress(index: number): string {
  return `127.11.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}

/** `ws` bound to a local address, as a WebSocket class y-websocket can construct. */
function fromAddress(localAddress: string) {
  return class extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { localAddress });
    }
  };
}

/** The watchers' device ID: a valid ID no device uses; it never writes. */
export const WATCHER_DEVICE = 'chaos-truth';

interface Watcher {
  readonly doc: Y.Doc;
  readonly tracker: CountsTracker;
  readonly provider: WebsocketProvider;
}

export class TruthWatchers {
  readonly #watchers = new Map<string, Watcher>();
  readonly #listeners = new Set<(account: string, badge: number) => void>();

  private constructor() {}

  /** One watcher per account, each synced before this resolves. */
  static async start(
    server: { syncUrl: string; deviceSecret: string },
    accounts: readonly string[],
    timeoutMs: number,
    /** A cluster run: the sync URL of the node watcher number `index` connects to. */
    urlOf: (index: number) => string = () => server.syncUrl,
  ): Promise<TruthWatchers> {
    const truth = new TruthWatchers();
    // Each stock provider listens to the process's 'exit' (to say goodbye to its peers).
    process.setMaxListeners(Math.max(process.getMaxListeners(), accounts.length + 10));
    try {
      for (const [index, account] of accounts.entries()) {
        const doc = new Y.Doc();
        const tracker = new CountsTracker(doc);
        const token = await deviceToken(server, account, WATCHER_DEVICE, 24 * 3600);
        const provider = new WebsocketProvider(urlOf(index), account, doc, {
          WebSocketPolyfill: fromAddress(watcherAddress(index)) as unknown as typeof globalThis.WebSocket,
          params: { token },
          disableBc: true,
          // Back within 100 ms of a restart, not 2.5 s: the truth must not lag the devices.
          maxBackoffTime: 100,
        });
        provider.awareness.setLocalState(null);
        tracker.onChange((change) => {
          for (const listener of [...truth.#listeners]) listener(account, change.badge);
        });
        truth.#watchers.set(account, { doc, tracker, provider });
      }
      await truth.synced(timeoutMs);
      return truth;
    } catch (err) {
      truth.close();
      throw err;
    }
  }

  /** The committed badge of an account as its watcher knows it. */
  badge(account: string): number {
    return this.#watchers.get(account)?.tracker.badge ?? 0;
  }

  /** The head of a thread as its account's watcher knows it (0 when none). */
  head(account: string, thread: string): number {
    return this.#watchers.get(account)?.tracker.head(thread as ThreadId) ?? 0;
  }

  /** Every account's counts as the watchers know them. */
  counts(account: string): AccountCounts | null {
    return this.#watchers.get(account)?.tracker.counts() ?? null;
  }

  /** Called with each change of an account's badge. */
  onChange(listener: (account: string, badge: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** After a restart on another port: reconnect every watcher there at once. */
  retarget(syncUrl: string): void {
    for (const { provider } of this.#watchers.values()) {
      provider.serverUrl = syncUrl;
      provider.disconnect();
      provider.connect();
    }
  }

  /** A cluster node died: its watchers reconnect at once to the nodes `next` picks (one each). */
  retargetFrom(deadSyncUrl: string, next: () => string): void {
    for (const { provider } of this.#watchers.values()) {
      if (provider.serverUrl !== deadSyncUrl) continue;
      provider.serverUrl = next();
      provider.disconnect();
      provider.connect();
    }
  }

  async synced(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while ([...this.#watchers.values()].some((w) => !w.provider.synced)) {
      if (Date.now() > until) throw new Error('truth watchers did not sync in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    for (const { provider, tracker, doc } of this.#watchers.values()) {
      provider.destroy();
      tracker.destroy();
      doc.destroy();
    }
    this.#watchers.clear();
    this.#listeners.clear();
  }
}
