/**
 * Caps on open TCP sockets (SPEC CONN-1, CONN-2): in all, and per client address before
 * authentication. Counted on the HTTP server's 'connection' event, before a byte is parsed,
 * so idle sockets that never send a request are counted too.
 *
 * - At the cap in all, a new socket is answered `503` with `Retry-After` at once and closed:
 *   the process never runs out of file descriptors, so SQLite, APNs and `/healthz` keep working.
 * - In the last `HEALTH_RESERVE` sockets below it, and past the per-address cap, a new socket
 *   is *restricted*: it may ask `GET /healthz` or `GET /metrics` within `RESTRICTED_IDLE_MS`,
 *   and anything else is answered `503` (a health check still gets through while idle
 *   sockets fill the server).
 * - A socket stops counting against its address once it is an authenticated sync connection
 *   (a NAT full of phones holds many of those), which the per-device cap bounds instead.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { errorBody, type HttpErrorCode } from '@badgesync/shared';
import type { Metrics } from '../metrics.js';

/** Sockets kept for health checks below the cap in all: a monitor or two, with room for retries. */
export const HEALTH_RESERVE = 16;
/**
 * A restricted socket that has not asked for its health check within 2 s is closed: a probe
 * sends its request at once, and a socket squatting the reserve is freed quickly.
 */
export const RESTRICTED_IDLE_MS = 2_000;
/** File descriptors kept below the process's open-file limit for SQLite (db, WAL, shm), APNs, logs and stdio. */
export const FD_HEADROOM = 64;
/**
 * How long a restricted socket that was answered 503 stays open after the answer is written:
 * a peer still sending its request reads the answer instead of a reset. It stays counted.
 */
export const REFUSED_LINGER_MS = 1_000;
/** Seconds a refused client is asked to wait: long enough for idle sockets to be cut, short for a phone. */
export const RETRY_AFTER_SECONDS = 5;

export interface SocketCaps {
  readonly maxSockets: number;
  readonly maxPreauthPerAddress: number;
}

/** The soft open-file limit of this process, or null where /proc is not there. */
export function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    const n = Number(soft);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** The configured cap, lowered to what the open-file limit allows (never below the reserve + 1). */
export function effectiveMaxSockets(configured: number, fileLimit: number | null): number {
  if (fileLimit === null) return configured;
  return Math.max(HEALTH_RESERVE + 1, Math.min(configured, fileLimit - FD_HEADROOM));
}

/** A plain HTTP answer written straight to a socket, in the contract's error shape. */
export function rawAnswer(status: number, code: HttpErrorCode, message?: string, retryAfter?: number): string {
  const body = JSON.stringify(errorBody(code, message));
  const reason = status === 503 ? 'Service Unavailable' : status === 429 ? 'Too Many Requests' : 'Error';
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `${retryAfter === undefined ? '' : `Retry-After: ${retryAfter}\r\n`}Connection: close\r\n\r\n${body}`
  );
}

export class SocketGate {
  #open = 0;
  readonly #preauth = new Map<string, number>();
  /** Sockets counted against their address (not yet an authenticated sync connection). */
  readonly #counted = new WeakMap<Socket, string>();
  readonly #restricted = new WeakSet<Socket>();
  /** Sockets already answered 503: whatever request the HTTP parser still reads from them is ignored. */
  readonly #refused = new WeakSet<Socket>();

  constructor(
    readonly caps: SocketCaps,
    private readonly metrics: Metrics,
  ) {}

  get open(): number {
    return this.#open;
  }

  /** The HTTP server's 'connection' listener. */
  readonly onConnection = (socket: Socket): void => {
    if (this.#open >= this.caps.maxSockets) {
      this.metrics.connectionsRefused.inc({ cap: 'sockets' });
      this.#refused.add(socket);
      // Not counted in #open: closed as soon as the answer is written, so refusals under a
      // flood hold no descriptor for longer than a write.
      refuseSocket(socket, 'the server holds its maximum of open sockets', 0);
      return;
    }
    this.#open++;
    const address = socket.remoteAddress ?? '?';
    const fromAddress = this.#preauth.get(address) ?? 0;
    this.#preauth.set(address, fromAddress + 1);
    this.#counted.set(socket, address);
    socket.once('close', () => {
      this.#open--;
      this.#uncount(socket);
    });
    if (this.#open > this.caps.maxSockets - HEALTH_RESERVE || fromAddress >= this.caps.maxPreauthPerAddress) {
      this.#restricted.add(socket);
      const idle = setTimeout(() => socket.destroy(), RESTRICTED_IDLE_MS);
      idle.unref();
      socket.once('close', () => clearTimeout(idle));
    }
  };

  /**
   * Whether `socket` may make a request other than a health check. When it may not, it has
   * been answered `503` and is closing (count it).
   */
  allows(socket: Socket, method: string | undefined, url: string | undefined): boolean {
    if (this.#refused.has(socket)) return false;
    if (!this.#restricted.has(socket)) return true;
    // The raw target, not `new URL`: anything but these two exact paths is refused anyway.
    const path = (url ?? '').split('?')[0];
    if (method === 'GET' && (path === '/healthz' || path === '/readyz' || path === '/metrics')) return true;
    this.metrics.connectionsRefused.inc({ cap: 'preauth_or_reserve' });
    this.#refused.add(socket);
    refuseSocket(socket, 'too many open sockets from this address or in all', REFUSED_LINGER_MS);
    return false;
  }

  /** Whether the socket is one of the restricted ones (health checks only, closed after one answer). */
  restricted(socket: Socket): boolean {
    return this.#restricted.has(socket);
  }

  /** The socket became an authenticated sync connection: it no longer counts against its address. */
  authenticated(socket: Socket): void {
    this.#uncount(socket);
  }

  #uncount(socket: Socket): void {
    const address = this.#counted.get(socket);
    if (address === undefined) return;
    this.#counted.delete(socket);
    const left = (this.#preauth.get(address) ?? 1) - 1;
    if (left > 0) this.#preauth.set(address, left);
    else this.#preauth.delete(address);
  }
}

/**
 * Answers `503 too_many_connections` with `Retry-After` on a raw socket, then closes it
 * `lingerMs` after the answer is written (end() alone would wait for the peer's FIN, and a
 * peer that never closes must not keep the descriptor).
 */
function refuseSocket(socket: Socket, message: string, lingerMs: number): void {
  if (socket.destroyed) return;
  socket.on('error', () => socket.destroy());
  socket.end(rawAnswer(503, 'too_many_connections', message, RETRY_AFTER_SECONDS), () => {
    setTimeout(() => socket.destroy(), lingerMs).unref();
  });
}
