import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  type AccountId,
  CloseCode,
  type DeviceId,
  errorBody,
  type HttpErrorCode,
  isAccountId,
} from '@badgesync/shared';
import type { Logger } from 'pino';
import { type WebSocket, WebSocketServer } from 'ws';
import { bearer } from '../auth/api-key.js';
import { type DeviceClaims, isRevoked, verifyDeviceToken } from '../auth/device-token.js';
import type { Metrics } from '../metrics.js';
import { RoomCapacityError, type RoomManager } from '../rooms/room-manager.js';
import { KeyedRateLimiter } from './rate-limit.js';
import { DEFAULT_SESSION_LIMITS, Session, type SessionLimits } from './session.js';
import type { WebSocketLike } from './websocket-like.js';

export interface SyncEndpointOptions {
  readonly deviceSecret: string;
  /** When the device was signed out of the account (tokens issued before are revoked), or null. */
  readonly revokedAt: (account: AccountId, device: DeviceId) => number | null;
  readonly heartbeatMs: number;
  readonly maxMessageBytes: number;
  readonly limits?: SessionLimits;
}

/**
 * Upgrade attempts per client address before authentication: 20/s with a burst of 100 lets
 * a NAT full of phones reconnect after an outage, and stops one address from making the
 * server verify tokens all day.
 */
const PRE_AUTH_RATE = 20;
const PRE_AUTH_BURST = 100;

const SYNC_PATH = /^\/v1\/sync\/([^/?#]+)\/?$/;

/**
 * `GET /v1/sync/{account}` (SPEC SYNC-1, AUTH-1..AUTH-4): checks the token before the
 * upgrade, then runs one Session per connection; owns heartbeats (SPEC SYNC-8).
 */
export class SyncEndpoint {
  readonly #wss: WebSocketServer;
  readonly #sessions = new Set<Session>();
  readonly #preAuth = new KeyedRateLimiter(PRE_AUTH_RATE, PRE_AUTH_BURST);
  readonly #heartbeat: NodeJS.Timeout;
  #closing = false;

  constructor(
    private readonly rooms: RoomManager,
    private readonly options: SyncEndpointOptions,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxMessageBytes,
      perMessageDeflate: false,
      clientTracking: false,
    });
    // Swept four times per interval, so a silent connection is cut within 2.25 intervals.
    this.#heartbeat = setInterval(() => this.#sweep(Date.now()), Math.max(1, Math.floor(options.heartbeatMs / 4)));
    this.#heartbeat.unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Whether `url` is this endpoint's. */
  matches(url: string): boolean {
    return SYNC_PATH.test(new URL(url, 'http://x').pathname);
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.#closing) return reject(socket, 503, 'shutting_down');
    if (!this.#preAuth.take(req.socket.remoteAddress ?? '?')) return reject(socket, 429, 'rate_limited');
    const url = new URL(req.url ?? '/', 'http://x');
    const match = SYNC_PATH.exec(url.pathname);
    if (match === null) return reject(socket, 404, 'not_found');
    const account = decodeURIComponent(match[1] as string);
    if (!isAccountId(account)) return reject(socket, 400, 'invalid_id');
    const token = url.searchParams.get('token') ?? bearer(req.headers.authorization);
    verifyDeviceToken(token, this.options.deviceSecret).then(
      (check) => {
        if (!check.ok) return reject(socket, 401, 'unauthorized', `device token ${check.why}`);
        if (check.claims.account !== account) {
          return reject(socket, 403, 'forbidden', 'the token is for another account');
        }
        if (isRevoked(check.claims, this.options.revokedAt(account, check.claims.device))) {
          return reject(socket, 401, 'unauthorized', 'the device was signed out after this token was issued');
        }
        this.#accept(req, socket, head, account, check.claims);
      },
      (err: unknown) => {
        this.log.error({ err }, 'token check failed');
        reject(socket, 500, 'internal');
      },
    );
  }

  #accept(req: IncomingMessage, socket: Duplex, head: Buffer, account: AccountId, claims: DeviceClaims): void {
    if (this.#closing || socket.destroyed) return reject(socket, 503, 'shutting_down');
    let room: ReturnType<RoomManager['get']>;
    try {
      room = this.rooms.get(account);
    } catch (err) {
      if (err instanceof RoomCapacityError) return reject(socket, 503, 'overloaded');
      throw err;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      mapOversizeClose(ws, this.metrics);
      const like: WebSocketLike = {
        send: (data) => ws.send(data, { binary: true }),
        close: (code, reason) => ws.close(code, reason),
        terminate: () => ws.terminate(),
        get bufferedAmount() {
          return ws.bufferedAmount;
        },
      };
      const session = new Session(like, claims, room, this.options.limits ?? DEFAULT_SESSION_LIMITS, this.metrics);
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
          session.close(CloseCode.invalidMessage, 'the message could not be handled');
        }
      });
      ws.on('pong', () => session.markAlive());
      ws.on('error', (err) => this.log.debug({ err: err.message, account, device: claims.device }, 'socket error'));
      ws.on('close', () => {
        session.detach();
        this.#sessions.delete(session);
        this.metrics.connections.set(this.#sessions.size);
      });
      this.#sockets.set(session, ws);
    });
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

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with a plain HTTP error in the contract's shape. */
export function reject(socket: Duplex, status: number, code: HttpErrorCode, message?: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(errorBody(code, message));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

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
