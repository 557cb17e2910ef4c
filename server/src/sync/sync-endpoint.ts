import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type AccountId, CloseCode, type DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { bearer } from '../auth/api-key.js';
import { type DeviceClaims, isRevoked, verifyDeviceToken } from '../auth/device-token.js';
import { guarded } from '../guard.js';
import { writeRawError } from '../http/raw-answer.js';
import { OVERLOADED_RETRY_AFTER_S } from '../http/respond.js';
import { decodeId, parseTarget, queryParam } from '../http/target.js';
import type { Metrics } from '../metrics.js';
import type { AccountRoom } from '../rooms/account-room.js';
import { RoomCapacityError, type RoomManager } from '../rooms/room-manager.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { DEFAULT_SESSION_LIMITS, Session, type SessionLimits } from './session.js';
import { wsSocketLike } from './ws-socket-like.js';

export interface SyncEndpointOptions {
  readonly deviceSecret: string;
  /** When the device was signed out of the account (tokens issued before are revoked), or null. */
  readonly revokedAt: (account: AccountId, device: DeviceId) => Promise<number | null>;
  readonly heartbeatMs: number;
  readonly maxMessageBytes: number;
  /** Upgrade attempts per second and in a burst per client address before authentication (config.ts says why). */
  readonly upgradeRate: number;
  readonly upgradeBurst: number;
  readonly limits?: SessionLimits;
  /** Most live connections of one device to one account (SPEC CONN-3); more get `503`. */
  readonly maxConnectionsPerDevice: number;
  /** Called when an upgrade is accepted: the socket is now an authenticated sync connection. */
  readonly authenticated?: (socket: Socket) => void;
}

/** Seconds a device over its connection cap is asked to wait: about when a dead socket of its is cut. */
const PER_DEVICE_RETRY_AFTER_SECONDS = 10;

/** Matched against the raw (still percent-encoded) path of the request target. */
const SYNC_PATH = /^\/v1\/sync\/([^/]+)\/?$/;

/** What a WebSocket client sends as Sec-WebSocket-Key: 16 random bytes in base64 (RFC 6455 4.1). */
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * `GET /v1/sync/{account}` (SPEC SYNC-1, AUTH-1..AUTH-4): checks the token before the
 * upgrade, then runs one Session per connection; owns heartbeats (SPEC SYNC-8).
 */
export class SyncEndpoint {
  readonly #wss: WebSocketServer;
  readonly #sessions = new Set<Session>();
  /** Live sessions per (account, device), for the per-device cap. */
  readonly #perDevice = new Map<string, number>();
  readonly #preAuth: KeyedRateLimiter;
  readonly #heartbeat: NodeJS.Timeout;
  #closing = false;

  constructor(
    private readonly rooms: RoomManager,
    private readonly options: SyncEndpointOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.#preAuth = new KeyedRateLimiter(options.upgradeRate, options.upgradeBurst);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Swept four times per interval, so a silent connection is cut within 2.25 intervals.
    const sweep = guarded(log, 'heartbeat sweep', () => this.#sweep(Date.now()));
    this.#heartbeat = setInterval(sweep, Math.max(1, Math.floor(options.heartbeatMs / 4)));
    this.#heartbeat.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Whether `url` (a raw request target) is this endpoint's. Never throws. */
  matches(url: string | undefined): boolean {
    const target = parseTarget(url);
    return target.ok && SYNC_PATH.test(target.path);
  }

  /**
   * [EDGE-2] Every refusal is a raw HTTP answer in the contract's shape; nothing about the
   * request target, its escapes or its headers can throw out of here (the caller catches
   * anyway, [EDGE-1]).
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
    if (this.#closing) return writeRawError(socket, 503, 'shutting_down');
    const address = req.socket.remoteAddress ?? '?';
    if (!this.#preAuth.take(address)) {
      return writeRawError(socket, 429, 'rate_limited', undefined, this.#preAuth.retryAfterSeconds(address));
    }
    const target = parseTarget(req.url);
    if (!target.ok) return writeRawError(socket, 400, 'invalid_target', target.why);
    const match = SYNC_PATH.exec(target.path);
    if (match === null) return writeRawError(socket, 404, 'not_found');
    const account = decodeId(match[1] as string) as AccountId | null;
    if (account === null) return writeRawError(socket, 400, 'invalid_id');
    const handshake = handshakeProblem(req);
    if (handshake !== null) return writeRawError(socket, 400, 'invalid_handshake', handshake);
    const token = queryParam(target.query, 'token') ?? bearer(req.headers.authorization);
    this.#authorize(token, account, socket)
      .then((claims) => (claims === null ? undefined : this.#accept(req, socket, head, account, claims)))
      .catch((err: unknown) => {
        // [EDGE-1] The token check or the accept threw: that one upgrade fails, loudly.
        this.log.error({ err, route: 'sync' }, 'upgrade failed');
        writeRawError(socket, 500, 'internal');
      });
  }

  /** The token's claims, or null once the refusal is answered (AUTH-1..AUTH-4). */
  async #authorize(token: string | null, account: AccountId, socket: Duplex): Promise<DeviceClaims | null> {
    const check = await verifyDeviceToken(token, this.options.deviceSecret);
    if (!check.ok) {
      writeRawError(socket, 401, 'unauthorized', `device token ${check.why}`);
      return null;
    }
    if (check.claims.account !== account) {
      writeRawError(socket, 403, 'forbidden', 'the token is for another account');
      return null;
    }
    if (isRevoked(check.claims, await this.options.revokedAt(account, check.claims.device))) {
      writeRawError(socket, 401, 'unauthorized', 'the device was signed out after this token was issued');
      return null;
    }
    return check.claims;
  }

  async #accept(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    account: AccountId,
    claims: DeviceClaims,
  ): Promise<void> {
    if (this.#closing || socket.destroyed) return writeRawError(socket, 503, 'shutting_down');
    const key = `${account}\u0000${claims.device}`;
    if ((this.#perDevice.get(key) ?? 0) >= this.options.maxConnectionsPerDevice) {
      this.metrics.connectionsRefused.inc({ cap: 'per_device' });
      return writeRawError(
        socket,
        503,
        'too_many_connections',
        `this device holds ${this.options.maxConnectionsPerDevice} connections to the account`,
        PER_DEVICE_RETRY_AFTER_SECONDS,
      );
    }
    // Counted from here, not from the upgrade callback: upgrades in flight (and loading their
    // account) count too.
    this.#perDevice.set(key, (this.#perDevice.get(key) ?? 0) + 1);
    let counted = true;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const left = (this.#perDevice.get(key) ?? 1) - 1;
      if (left > 0) this.#perDevice.set(key, left);
      else this.#perDevice.delete(key);
    };
    socket.once('close', uncount);
    let room: AccountRoom;
    try {
      room = await this.rooms.acquire(account);
    } catch (err) {
      uncount();
      if (err instanceof RoomCapacityError)
        return writeRawError(socket, 503, 'overloaded', undefined, OVERLOADED_RETRY_AFTER_S);
      if (this.#closing) return writeRawError(socket, 503, 'shutting_down');
      throw err;
    }
    // The account loaded while the socket waited: it may have gone, or the server be closing.
    if (this.#closing || socket.destroyed) {
      uncount();
      return writeRawError(socket, 503, 'shutting_down');
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      this.options.authenticated?.(req.socket);
      try {
        this.#open(ws, socket, account, claims, room, uncount);
      } catch (err) {
        // [EDGE-1] The socket is a WebSocket by now: no HTTP answer, a close it can retry after.
        this.log.error({ err, route: 'sync', account, device: claims.device }, 'opening a session failed');
        ws.close(CloseCode.tryAgainLater, 'the connection could not be opened');
      }
    });
  }

  #open(
    ws: WebSocket,
    socket: Duplex,
    account: AccountId,
    claims: DeviceClaims,
    room: AccountRoom,
    uncount: () => void,
  ): void {
    {
      mapOversizeClose(ws, this.metrics);
      const like = wsSocketLike(ws, socket);
      const limits = this.options.limits ?? DEFAULT_SESSION_LIMITS;
      const session = new Session(like, claims, room, limits, this.metrics, this.log);
      this.#sessions.add(session);
      this.metrics.connections.set(this.#sessions.size);
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        // A throw escaping this listener is an uncaught exception: the process would die, not
        // the socket (a corrupt step 1 can throw, see protocol.ts). A throw closes that
        // socket with 4400, never the process (SPEC SYNC-9).
        try {
          session.receive(data, isBinary);
        } catch (err) {
          this.log.error({ err, account, device: claims.device }, 'message handler threw');
          try {
            session.close(CloseCode.invalidMessage, 'the message could not be handled');
          } catch {
            ws.terminate();
          }
        }
      });
      ws.on('pong', () => session.markAlive());
      ws.on('error', (err) => this.log.debug({ err: err.message, account, device: claims.device }, 'socket error'));
      ws.on(
        'close',
        guarded(this.log, 'sync socket close', () => {
          uncount();
          this.#sessions.delete(session);
          this.metrics.connections.set(this.#sessions.size);
          session.detach();
        }),
      );
      this.#sockets.set(session, ws);
    }
  }

  readonly #sockets = new WeakMap<Session, WebSocket>();

  #sweep(now: number): void {
    const interval = this.options.heartbeatMs;
    for (const session of this.#sessions) {
      if (now - session.lastSeen >= 2 * interval) {
        session.terminate();
        this.#sessions.delete(session);
        this.log.info({ account: session.claims.account, device: session.device }, 'silent connection terminated');
      } else if (now - session.lastPing >= interval) {
        session.lastPing = now;
        this.#sockets.get(session)?.ping();
      }
    }
    this.metrics.connections.set(this.#sessions.size);
  }

  /** [AUTH-4] Closes a device's connections to an account (signed out): 4401. */
  revoke(account: AccountId, device: DeviceId): void {
    for (const session of this.#sessions) {
      if (session.claims.account === account && session.device === device) {
        session.close(CloseCode.tokenExpired, 'signed out');
      }
    }
  }

  /** Stops accepting and closes every connection with 1001. */
  close(): void {
    this.#closing = true;
    clearInterval(this.#heartbeat);
    for (const session of this.#sessions) session.close(CloseCode.goingAway, 'server shutting down');
    this.#sessions.clear();
    this.#wss.close();
  }
}

/**
 * Checked before the token, so a handshake ws would refuse is answered in the contract's
 * shape instead of ws's plain text: GET, `Upgrade: websocket`, version 13 (or 8) and a key.
 */
function handshakeProblem(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'the upgrade must be a GET';
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return 'Upgrade must be websocket';
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') return 'Sec-WebSocket-Version must be 13';
  if (!WEBSOCKET_KEY.test(req.headers['sec-websocket-key'] ?? '')) return 'Sec-WebSocket-Key is missing or malformed';
  const protocols = req.headers['sec-websocket-protocol'];
  if (protocols !== undefined) {
    const names = protocols.split(',').map((name) => name.trim());
    if (!names.every((name) => TOKEN.test(name)) || new Set(names).size !== names.length) {
      return 'Sec-WebSocket-Protocol is malformed';
    }
  }
  return null;
}

/** An HTTP token (RFC 9110 5.6.2): what each name in Sec-WebSocket-Protocol must be. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * ws closes a frame over maxPayload with 1009, which makes a stock provider reconnect and
 * resend it forever; the contract says 4413 (do not reconnect). ws calls close(1009) on
 * itself from its receiver before anything else sees the error, so the instance's close
 * is wrapped to translate that one code. A test sends an oversized frame and expects 4413.
 */
function mapOversizeClose(ws: WebSocket, metrics: Metrics): void {
  const close = ws.close.bind(ws);
  ws.close = (code?: number, reason?: string | Buffer) => {
    if (code === 1009) {
      // This close bypasses Session.close, which counts the others: count it here, or
      // badgesync_connection_closes_total never shows a 4413 (e2e malformed-frames).
      metrics.closes.inc({ code: String(CloseCode.messageTooLarge) });
      return close(CloseCode.messageTooLarge, 'message too large');
    }
    return close(code, reason);
  };
}
