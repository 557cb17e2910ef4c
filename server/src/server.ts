import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { ClusterNode } from './cluster/cluster-node.js';
import { allowedOrigins, allowedTopics, type Config, documentBudgets } from './config.js';
import { guarded } from './guard.js';
import { Api, IDEMPOTENCY_WINDOW_MS } from './http/api.js';
import { HTTP_SERVER_OPTIONS, KEEP_ALIVE_TIMEOUT_MS, MAX_HEADERS_COUNT, missingHost } from './http/http-limits.js';
import { writeRawError } from './http/raw-answer.js';
import { checkReadiness, type ReadinessProbe } from './http/readiness.js';
import { ApiError, sendError, sendJson } from './http/respond.js';
import { effectiveMaxSockets, openFileLimit, SocketGate } from './http/socket-gate.js';
import { parseTarget } from './http/target.js';
import { handleWebPushKey, WEBPUSH_KEY_PATH } from './http/webpush-key.js';
import { Metrics } from './metrics.js';
import type { PushFactory, PushHooks } from './push/ports.js';
import { resolveVapidKeys, type VapidKeys } from './push/webpush-keys.js';
import { webPushHosts } from './push/webpush-subscription.js';
import type { AccountRoom } from './rooms/account-room.js';
import { COMMIT_GATHER, GroupCommit } from './rooms/group-commit.js';
import { RoomManager } from './rooms/room-manager.js';
import { resolveSecrets, type Secrets } from './secrets.js';
import type { Store } from './store/store.js';
import { DEFAULT_SESSION_LIMITS } from './sync/session.js';
import { SyncEndpoint } from './sync/sync-endpoint.js';
import type { TestHooks } from './test-hooks.js';

export interface ServerParts {
  readonly config: Config;
  /** Everything the server keeps (rooms, API, sync, push, start-up reads) answers through promises. */
  readonly store: Store;
  readonly log: Logger;
  /** Builds the push pipeline once the server's parts exist. */
  readonly push: PushFactory;
  /** Test-only hooks (SPEC OPS-5); none when absent. */
  readonly testHooks?: TestHooks;
  /** The Web Push key pair push signs with (resolveVapidKeys); resolved from the store when absent. */
  readonly vapid?: VapidKeys;
  /** What GET /readyz checks besides draining (PostgreSQL, Redis); none for SQLite. */
  readonly readiness?: readonly ReadinessProbe[];
  /**
   * Cluster mode (docs/CLUSTER.md): this node's link to the others. `store` is then the
   * link's store (its commits publish), and the node's rooms, presence and push go through it.
   */
  readonly cluster?: ClusterNode;
}

/**
 * One badgesync node: the HTTP API, the sync endpoint, the account rooms, group commit
 * and push, over one store. Built by `create()` (the secrets and the VAPID pair are read from
 * the store first); `stop()` is the graceful shutdown of SPEC OPS-3.
 */
export class BadgesyncServer {
  readonly metrics = new Metrics();
  readonly secrets: Secrets;
  /** [PUSH-20] The Web Push VAPID key pair: configured, or generated once and stored. */
  readonly vapid: VapidKeys;
  readonly #http: Server;
  readonly #commit: GroupCommit;
  readonly #rooms: RoomManager;
  readonly #sync: SyncEndpoint;
  readonly #api: Api;
  readonly #gate: SocketGate;
  readonly #push: PushHooks;
  #stopping: Promise<void> | null = null;
  /** Past the drain (SPEC OPS-3): connections close, writes are refused. */
  #closing = false;
  readonly #purge: NodeJS.Timeout;
  /** Responses in progress per connection (pipelined requests), for a parse error that follows them. */
  readonly #answering = new WeakMap<Duplex, Set<ServerResponse>>();

  /**
   * Reads what the node needs before it serves (CONF-2 secrets, PUSH-20 VAPID pair: configured,
   * stored, or generated and stored), then builds it. Rejects as those reads do (a
   * VapidKeyError for a bad configured pair).
   */
  static async create(parts: ServerParts): Promise<BadgesyncServer> {
    const { config, store } = parts;
    const secrets = await resolveSecrets(store, config.apiKey, config.deviceSecret);
    const vapid = parts.vapid ?? (await resolveVapidKeys(store, config));
    return new BadgesyncServer(parts, secrets, vapid);
  }

  private constructor(
    private readonly parts: ServerParts,
    secrets: Secrets,
    vapid: VapidKeys,
  ) {
    const { config, store, log } = parts;
    this.secrets = secrets;
    this.vapid = vapid;
    this.#commit = new GroupCommit(
      store,
      this.metrics,
      (err) => {
        log.fatal({ err }, 'store commit failed; memory is ahead of disk, exiting');
        process.exit(70);
      },
      (err) => log.error({ err, where: 'after commit' }, 'unexpected throw caught at the boundary'),
      parts.testHooks?.commitDelayMs ?? 0,
      COMMIT_GATHER,
    );
    if (parts.testHooks !== undefined && parts.testHooks.commitDelayMs > 0) {
      log.warn(
        { commitDelayMs: parts.testHooks.commitDelayMs },
        'test hook: each group commit is held before it writes',
      );
    }
    // Push is built before the rooms and the API, which hold it from their first event on.
    // The one thing push asks of the rooms, whether a device is online, is answered once they
    // exist; asked while push is being built, it throws rather than answer wrongly.
    let rooms: RoomManager | null = null;
    const cluster = parts.cluster;
    this.#push = parts.push({
      store,
      // [CLUSTER-19] In a cluster, due entries are claimed, so one node sends each.
      ...(cluster === undefined
        ? {}
        : {
            takeDue: (now: number, limit: number) => cluster.claimDue(now, limit),
            peekDue: (limit: number) => cluster.peekDue(limit),
            releaseDue: (tokens: readonly string[]) => cluster.releaseDue(tokens),
          }),
      metrics: this.metrics,
      log,
      // [CLUSTER-17] In a cluster, connected to any node (the presence directory).
      isOnline: (a, d) => {
        if (rooms === null) throw new Error('push asked whether a device is online before the rooms were built');
        if (cluster !== undefined) return cluster.link.isOnline(a, d);
        return rooms.peek(a)?.isOnline(d) ?? false;
      },
      writes: {
        write: (write) => this.#commit.addPushWrite(write),
        afterWrites: (callback) => this.#commit.afterCommit(callback),
      },
    });
    rooms = new RoomManager(
      {
        store,
        commit: this.#commit,
        metrics: this.metrics,
        log,
        events: cluster === undefined ? this.#push : cluster.link.roomEvents(this.#push),
        ...(cluster === undefined
          ? {}
          : {
              logHeldThrough: (room: AccountRoom) => cluster.link.heldThrough(room),
              catchUp: (room: AccountRoom) => cluster.link.catchUp(room),
              published: (room: AccountRoom) => cluster.link.published(room),
              // [CLUSTER-60] Each load writes under a leased server client ID, reused across loads.
              leases: cluster.leases,
              migrateDoc: cluster.migrateDoc,
            }),
        budgets: documentBudgets(config),
        awareness: {
          stateBytes: config.awarenessStateBytes,
          accountBytes: config.awarenessAccountBytes,
          clientsPerConnection: config.awarenessClientsPerConnection,
        },
      },
      config.maxLoadedDocs,
    );
    this.#rooms = rooms;
    // [CLUSTER-47] Entries another node handed over are due now: push looks at the outbox again.
    cluster?.onOutboxChanged(() => this.#push.outboxChanged?.());
    const loaded = rooms;
    cluster?.link.attach({
      peek: (account) => loaded.peek(account),
      loaded: () => loaded.loaded(),
      isOnlineHere: (account, device) => loaded.peek(account)?.isOnline(device) ?? false,
    });
    this.#sync = new SyncEndpoint(
      this.#rooms,
      {
        deviceSecret: this.secrets.deviceSecret,
        revokedAt: (a, d) => store.revokedAt(a, d),
        heartbeatMs: config.heartbeatMs,
        maxMessageBytes: config.maxMessageBytes,
        maxConnectionsPerDevice: config.maxConnectionsPerDevice,
        authenticated: (socket) => this.#gate.authenticated(socket),
        upgradeRate: config.upgradeRate,
        upgradeBurst: config.upgradeBurst,
        limits: {
          ...DEFAULT_SESSION_LIMITS,
          messagesPerSecond: config.messageRate,
          messageBurst: config.messageBurst,
        },
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
      isShuttingDown: () => this.#closing,
      maxThreads: config.maxThreads,
      allowedTopics: allowedTopics(config),
      allowedOrigins: allowedOrigins(config),
      webpushHosts: webPushHosts(config.webpushHosts ?? null),
      // [CLUSTER-40] Ingests and API reads in the account's exclusive transaction.
      ...(cluster === undefined ? {} : { exact: cluster.link }),
    });
    // Idempotency answers older than the contract's 24 h are deleted hourly: the table stays
    // at about one day of keys, and a purge of one hour's keys is a short transaction.
    this.#purge = setInterval(
      guarded(log, 'idempotency purge', () => {
        store
          .purgeIdempotent(Date.now() - IDEMPOTENCY_WINDOW_MS)
          .catch((err: unknown) => log.error({ err, where: 'idempotency purge' }, 'idempotency purge failed'));
      }),
      60 * 60_000,
    );
    this.#purge.unref();
    const fileLimit = openFileLimit();
    const maxSockets = effectiveMaxSockets(config.maxSockets, fileLimit);
    if (maxSockets < config.maxSockets) {
      // Info, not a warning: with the common limits (1,024; 65,536) this is the normal case.
      log.info({ configured: config.maxSockets, fileLimit, maxSockets }, 'socket cap lowered to the open-file limit');
    }
    this.#gate = new SocketGate({ maxSockets, maxPreauthPerAddress: config.maxPreauthSocketsPerAddress }, this.metrics);
    this.#http = createServer(HTTP_SERVER_OPTIONS, (req, res) => {
      if (!this.#gate.allows(req.socket, req.method, req.url)) return;
      if (this.#gate.restricted(req.socket)) res.shouldKeepAlive = false;
      this.#request(req, res);
    });
    this.#http.on('connection', this.#gate.onConnection);
    this.#http.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    this.#http.maxHeadersCount = MAX_HEADERS_COUNT;
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    // An Expect other than 100-continue: Node would answer a bare 417; the request is served
    // as if it had none (which HTTP allows), so its answer is the contract's.
    this.#http.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => this.#request(req, res));
    this.#http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => this.#clientError(err, socket));
    // CONNECT is for proxies; without a listener Node drops the socket without an answer.
    this.#http.on('connect', (_req: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      writeRawError(socket, 405, 'method_not_allowed', 'this server is not a proxy');
    });
  }

  /**
   * [EDGE-1] The request boundary: whatever a request makes throw answers that request alone,
   * in the contract's shape, and is logged once with its route (never the raw URL, whose
   * query may hold a token, [EDGE-5]).
   */
  #request(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const answering = this.#answering.get(socket) ?? new Set<ServerResponse>();
    this.#answering.set(socket, answering);
    answering.add(res);
    res.once('close', () => answering.delete(res));
    let route = 'unknown';
    const fail = (err: unknown) => {
      if (err instanceof ApiError) {
        if (!res.headersSent) sendError(res, err);
        return;
      }
      this.parts.log.error({ err, route, method: req.method }, 'request handler failed');
      if (!res.headersSent) sendError(res, new ApiError('internal'));
      else res.destroy();
    };
    try {
      this.#onRequest(req, res, (name) => {
        route = name;
      }).catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  /** [EDGE-1] The upgrade boundary: a throw refuses that one upgrade, never the process. */
  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node has taken its error listener off the socket: a reset must not become uncaught.
    socket.on('error', () => socket.destroy());
    try {
      if (!this.#gate.allows(req.socket, 'UPGRADE', req.url)) return;
      const noHost = missingHost(req);
      if (noHost !== null) return writeRawError(socket, 400, 'bad_request', noHost);
      if (this.#sync.matches(req.url)) return this.#sync.handleUpgrade(req, socket, head);
      const target = parseTarget(req.url);
      if (!target.ok) return writeRawError(socket, 400, 'invalid_target', target.why);
      writeRawError(socket, 404, 'not_found', 'no WebSocket route here');
    } catch (err) {
      this.parts.log.error({ err, route: 'upgrade', method: req.method }, 'upgrade handler failed');
      writeRawError(socket, 500, 'internal');
    }
  }

  /**
   * A parse error after pipelined requests still being answered waits for their answers, so
   * answers stay in order and none is lost. The request whose bytes broke the parser is not
   * among them: it will never complete.
   */
  #clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
    const pending = [...(this.#answering.get(socket) ?? [])].filter((res) => res.req.complete);
    if (pending.length === 0) return clientError(err, socket);
    socket.on('error', () => socket.destroy());
    let left = pending.length;
    for (const res of pending) {
      res.once('close', () => {
        if (--left === 0) clientError(err, socket);
      });
    }
  }

  /** Listens on the configured port (0: any). */
  async listen(): Promise<number> {
    this.#http.listen(this.parts.config.port, this.parts.config.host);
    await once(this.#http, 'listening');
    // [EDGE-1] An error of the listening socket itself (out of file descriptors on accept).
    this.#http.on('error', (err) => this.parts.log.error({ err }, 'HTTP server error'));
    this.#push.start();
    return this.port;
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse, routed: (route: string) => void): Promise<void> {
    const noHost = missingHost(req);
    if (noHost !== null) throw new ApiError('bad_request', noHost);
    const target = parseTarget(req.url);
    if (!target.ok) throw new ApiError('invalid_target', target.why);
    const path = target.path;
    if (path === '/healthz' || path === '/readyz' || path === '/metrics') {
      routed(path.slice(1));
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('method_not_allowed');
      if (path === '/healthz') return sendJson(res, this.#closing ? 503 : 200, { ok: !this.#closing });
      if (path === '/readyz') {
        // [OPS-6] Draining from the SIGTERM on, and while PostgreSQL or Redis does not answer.
        const { ready, reasons } = await checkReadiness(this.#stopping !== null, this.parts.readiness ?? []);
        return sendJson(res, ready ? 200 : 503, ready ? { ready } : { ready, reasons });
      }
      const text = await this.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (path === WEBPUSH_KEY_PATH || path === `${WEBPUSH_KEY_PATH}/`) {
      routed('webpush_key');
      return handleWebPushKey(req, res, {
        publicKey: this.vapid.publicKey,
        apiKey: this.secrets.apiKey,
        deviceSecret: this.secrets.deviceSecret,
        revokedAt: (a, d) => this.parts.store.revokedAt(a, d),
        allowedOrigins: allowedOrigins(this.parts.config),
        metrics: this.metrics,
      });
    }
    if (await this.#api.handle(req, res, path, routed)) return;
    routed('not_found');
    throw new ApiError('not_found', `no route ${req.method} ${truncate(path)}`);
  }

  /**
   * [OPS-3] /readyz answers 503 at once (OPS-6) while the node still serves for
   * BADGESYNC_DRAIN_MS; then stop accepting, close sockets with 1001, finish pending writes,
   * close the store.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      const drainMs = this.parts.config.drainMs;
      if (drainMs > 0) {
        this.parts.log.info({ drainMs }, 'draining: /readyz answers 503 before the node closes');
        await new Promise((resolve) => setTimeout(resolve, drainMs));
      }
      this.#closing = true;
      clearInterval(this.#purge);
      this.#http.close();
      this.#sync.close();
      // [OPS-8] The writes pending now go first, push still listening: the counts they commit
      // queue their phones (a change left in this flush would otherwise reach no push, on one
      // node until the restart sweep, in a cluster until the account's next change).
      await this.#commit.flushed();
      // Then push closes: what it queued and the answers of pushes in flight write through the
      // group commit, whose last flush makes them durable before the hand-over.
      await this.#push.close();
      await this.#commit.close();
      // [CLUSTER-46] Every send of this node has settled and is durable: what is left in the
      // outbox of its own goes to the other nodes now, not when its claims' lease ends.
      if (this.parts.cluster !== undefined) await this.#handOver(this.parts.cluster);
      // [OPS-7] The cluster link stops and this node's devices leave the cluster's presence
      // before the rooms unload and the database closes.
      await this.parts.cluster?.close();
      this.#rooms.close();
      this.#http.closeAllConnections();
      await this.parts.store.close();
    })();
    return this.#stopping;
  }

  /** [CLUSTER-46] A failed hand-over leaves the entries to the lease (CLUSTER-19): logged, not fatal. */
  async #handOver(cluster: ClusterNode): Promise<void> {
    const tokens = this.#push.pendingTokens?.() ?? [];
    try {
      const entries = await cluster.handOverPushes(tokens);
      this.parts.log.info({ entries }, 'push entries handed over to the other nodes');
    } catch (err) {
      this.parts.log.warn({ err }, 'push hand-over failed; other nodes take the entries when their claims lapse');
    }
  }
}

/** A path echoed in an error message, cut short: a 16 KiB path need not come back whole. */
function truncate(path: string): string {
  return path.length > 200 ? `${path.slice(0, 200)}…` : path;
}

/**
 * [EDGE-2] A request Node's parser refused (bad method, target, header, chunk size or
 * version; too large; too slow): a 4xx in the contract's shape, then the socket is closed.
 * Not logged: it is the client's error, and the raw bytes (`err.rawPacket`) may hold a token.
 */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') return writeRawError(socket, 431, 'headers_too_large');
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return writeRawError(socket, 408, 'request_timeout');
  writeRawError(socket, 400, 'bad_request');
}
