import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { allowedTopics, type Config } from './config.js';
import { Api, type DeviceHooks, IDEMPOTENCY_WINDOW_MS } from './http/api.js';
import { ApiError, sendError, sendJson } from './http/respond.js';
import { Metrics } from './metrics.js';
import type { PushWrites } from './push/push-scheduler.js';
import type { RoomEvents } from './rooms/account-room.js';
import { GroupCommit } from './rooms/group-commit.js';
import { RoomManager } from './rooms/room-manager.js';
import { resolveSecrets, type Secrets } from './secrets.js';
import type { Store } from './store/store.js';
import { reject, SyncEndpoint } from './sync/sync-endpoint.js';

/** Everything push needs to hear: counts, presence, registrations. */
export interface PushHooks extends RoomEvents, DeviceHooks {
  /** Called once the server listens: resumes the outbox. */
  start(): void;
  close(): Promise<void>;
}

export interface ServerParts {
  readonly config: Config;
  readonly store: Store;
  readonly log: Logger;
  /** Builds the push pipeline once the server's parts exist. */
  readonly push: (ctx: {
    store: Store;
    metrics: Metrics;
    log: Logger;
    isOnline: (a: AccountId, d: DeviceId) => boolean;
    /** Push-state writes join the group commit. */
    writes: PushWrites;
  }) => PushHooks;
}

/**
 * One badgesync node: the HTTP API, the sync endpoint, the account rooms, group commit
 * and push, over one store. `stop()` is the graceful shutdown of SPEC OPS-3.
 */
export class BadgesyncServer {
  readonly metrics = new Metrics();
  readonly secrets: Secrets;
  readonly #http: Server;
  readonly #commit: GroupCommit;
  readonly #rooms: RoomManager;
  readonly #sync: SyncEndpoint;
  readonly #api: Api;
  readonly #push: PushHooks;
  #stopping: Promise<void> | null = null;
  readonly #purge: NodeJS.Timeout;

  constructor(private readonly parts: ServerParts) {
    const { config, store, log } = parts;
    this.secrets = resolveSecrets(store, config.apiKey, config.deviceSecret);
    this.#commit = new GroupCommit(store, this.metrics, (err) => {
      log.fatal({ err }, 'store commit failed; memory is ahead of disk, exiting');
      process.exit(70);
    });
    const events: RoomEvents = {
      countsCommitted: (a: AccountId, c: AccountCounts) => this.#push.countsCommitted(a, c),
      deviceOnline: (a: AccountId, d: DeviceId) => this.#push.deviceOnline(a, d),
      deviceOffline: (a: AccountId, d: DeviceId) => this.#push.deviceOffline(a, d),
    };
    this.#rooms = new RoomManager(
      { store, commit: this.#commit, metrics: this.metrics, log, events },
      config.maxLoadedDocs,
    );
    this.#push = parts.push({
      store,
      metrics: this.metrics,
      log,
      isOnline: (a, d) => this.#rooms.peek(a)?.isOnline(d) ?? false,
      writes: {
        write: (work) => this.#commit.addWork(work),
        afterWrites: (callback) => this.#commit.afterCommit(callback),
      },
    });
    this.#sync = new SyncEndpoint(
      this.#rooms,
      {
        deviceSecret: this.secrets.deviceSecret,
        revokedAt: (a, d) => store.revokedAt(a, d),
        heartbeatMs: config.heartbeatMs,
        maxMessageBytes: config.maxMessageBytes,
      },
      this.metrics,
      log,
    );
    this.#api = new Api({
      apiKey: this.secrets.apiKey,
      deviceSecret: this.secrets.deviceSecret,
      store,
      rooms: this.#rooms,
      commit: this.#commit,
      metrics: this.metrics,
      log,
      devices: this.#push,
      revoke: (a, d) => this.#sync.revoke(a, d),
      isShuttingDown: () => this.#stopping !== null,
      allowedTopics: allowedTopics(config),
    });
    // Idempotency answers older than the contract's 24 h are deleted hourly: the table stays
    // at about one day of keys, and a purge of one hour's keys is a short transaction.
    this.#purge = setInterval(() => store.purgeIdempotent(Date.now() - IDEMPOTENCY_WINDOW_MS), 60 * 60_000);
    this.#purge.unref();
    this.#http = createServer((req, res) => {
      this.#onRequest(req, res).catch((err: unknown) => {
        log.error({ err }, 'request handler failed');
        if (!res.headersSent) sendError(res, new ApiError('internal'));
      });
    });
    this.#http.on('upgrade', (req, socket, head) => {
      if (this.#sync.matches(req.url ?? '/')) this.#sync.handleUpgrade(req, socket, head);
      else reject(socket, 404, 'not_found', `no WebSocket route ${new URL(req.url ?? '/', 'http://x').pathname}`);
    });
  }

  /** Listens on the configured port (0: any). */
  async listen(): Promise<number> {
    this.#http.listen(this.parts.config.port, this.parts.config.host);
    await once(this.#http, 'listening');
    this.#push.start();
    return this.port;
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { pathname } = new URL(req.url ?? '/', 'http://x');
    if (pathname === '/healthz' && req.method === 'GET') {
      return sendJson(res, this.#stopping ? 503 : 200, { ok: this.#stopping === null });
    }
    if (pathname === '/metrics' && req.method === 'GET') {
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (await this.#api.handle(req, res, pathname)) return;
    sendError(res, new ApiError('not_found', `no route ${req.method} ${pathname}`));
  }

  /**
   * [OPS-3] Stop accepting, close sockets with 1001, finish pending writes, close the store.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#purge);
      this.#http.close();
      this.#sync.close();
      // Push first: the answers of pushes in flight write through the group commit.
      await this.#push.close();
      this.#commit.close();
      this.#rooms.close();
      this.#http.closeAllConnections();
      this.parts.store.close();
    })();
    return this.#stopping;
  }
}
