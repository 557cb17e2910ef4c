import { CloseCode, closeAction } from '@badgesync/shared';
import * as Y from 'yjs';
import type { Backoff } from './backoff.js';
import type { Clock } from './clock.js';
import { type AccountStatus, type CloseInfo, SILENT_LINK } from './status.js';
import { type TokenSource, TokenUnavailableError } from './token-source.js';
import type { NetworkMonitor, WebSocketConstructor, WebSocketLike } from './websocket-like.js';
import { OPEN } from './websocket-like.js';
import { decodeServerMessage, encodeStep1, encodeStep2, encodeUpdate, type ServerMessage } from './wire.js';

/** What a Connection needs. */
export interface ConnectionDeps {
  readonly doc: Y.Doc;
  /** The sync URL for a token. */
  readonly url: (token: string) => string;
  readonly tokens: TokenSource;
  readonly WebSocket: WebSocketConstructor;
  readonly backoff: Backoff;
  readonly network: NetworkMonitor;
  readonly clock: Clock;
  readonly heartbeatMs: number;
  /** A connection that stayed synced this long resets the backoff. */
  readonly stableMs: number;
  readonly onStatus: (status: AccountStatus) => void;
  /** The server's answer to this connection's first sync step 1 has been applied. */
  readonly onSynced: () => void;
  /**
   * The server closed with 4410 (replica outdated): drop the replica, then resolve once
   * `useDoc` has the fresh document; the connection reconnects then (SPEC SDK-11). A
   * rejection stops the account with the close as its error.
   */
  readonly onReplicaOutdated: (close: CloseInfo) => Promise<void>;
}

/** Close code the SDK sends when it leaves on its own (sign-out, network gone, silence). */
const NORMAL_CLOSURE = 1000;

/**
 * One account's sync connection, over the y-websocket wire protocol (SPEC SDK-3..SDK-6):
 * sync step 1 on open, the server's step 2 makes it `synced`, local updates are sent only
 * after this side's step 2 (so the server never gets an update it cannot place yet).
 * Close codes follow the contract: 4401 → new token and reconnect; 4410 → the account drops
 * its replica, then reconnect; 4400/4403/4413 → stop with an error; anything else →
 * reconnect with capped, fully jittered backoff.
 * A link silent for two heartbeat intervals counts as dead.
 */
export class Connection {
  readonly #deps: ConnectionDeps;
  #doc: Y.Doc;
  /** The account is dropping its replica (4410); no connection until it is done. */
  #resetting = false;
  #socket: WebSocketLike | null = null;
  #timer: unknown = null;
  #heartbeat: unknown = null;
  /** Bumped whenever an attempt is abandoned, so a late token or event of it is ignored. */
  #attemptId = 0;
  #opened = false;
  /** This side's step 2 went out: later local updates can be sent as they happen. */
  #forwarding = false;
  #syncedAt: number | null = null;
  #lastHeard = 0;
  #started = false;
  #closed = false;
  #stopped = false;
  #status: AccountStatus = { state: 'offline', retryInMs: null, lastClose: null };
  #lastClose: CloseInfo | null = null;
  #unsubscribeNetwork: (() => void) | null = null;

  constructor(deps: ConnectionDeps) {
    this.#deps = deps;
    this.#doc = deps.doc;
  }

  /** Follows `doc` instead of the current document (a dropped replica's successor). */
  useDoc(doc: Y.Doc): void {
    if (doc === this.#doc) return;
    if (this.#started && !this.#closed) {
      this.#doc.off('update', this.#onDocUpdate);
      doc.on('update', this.#onDocUpdate);
    }
    this.#doc = doc;
  }

  get status(): AccountStatus {
    return this.#status;
  }

  /** Starts connecting (and keeps reconnecting) until close() or a terminal error. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#doc.on('update', this.#onDocUpdate);
    this.#unsubscribeNetwork = this.#deps.network.subscribe(this.#onNetwork);
    this.#connect();
  }

  /** After a terminal error (or to skip a backoff wait): connect again now. */
  retryNow(): void {
    if (this.#closed || !this.#started) return;
    this.#stopped = false;
    this.#deps.backoff.reset();
    if (this.#socket !== null) return;
    this.#connect();
  }

  /** Leaves for good: closes the socket, cancels timers, stops following the document. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abandon('signed out');
    this.#doc.off('update', this.#onDocUpdate);
    this.#unsubscribeNetwork?.();
    this.#unsubscribeNetwork = null;
  }

  #setStatus(status: AccountStatus): void {
    this.#status = status;
    this.#deps.onStatus(status);
  }

  #connect(): void {
    this.#clearTimer();
    if (this.#closed || this.#stopped || this.#resetting || this.#socket !== null) return;
    if (!this.#deps.network.online) {
      this.#setStatus({ state: 'offline', retryInMs: null, lastClose: this.#lastClose });
      return;
    }
    const attempt = ++this.#attemptId;
    this.#setStatus({ state: 'connecting' });
    this.#deps.tokens.current(this.#deps.clock.now()).then(
      (token) => {
        if (attempt === this.#attemptId && !this.#closed) this.#open(token);
      },
      (err: unknown) => {
        if (attempt !== this.#attemptId || this.#closed) return;
        if (err instanceof TokenUnavailableError) {
          this.#stop(CloseCode.tokenExpired, err.message);
        } else {
          this.#retryLater({ code: SILENT_LINK, reason: `getToken failed: ${(err as Error)?.message ?? err}` });
        }
      },
    );
  }

  #open(token: string): void {
    let socket: WebSocketLike;
    try {
      socket = new this.#deps.WebSocket(this.#deps.url(token));
      socket.binaryType = 'arraybuffer';
    } catch (err) {
      this.#retryLater({ code: SILENT_LINK, reason: `cannot open a WebSocket: ${(err as Error).message}` });
      return;
    }
    this.#socket = socket;
    this.#opened = false;
    this.#forwarding = false;
    this.#syncedAt = null;
    this.#lastHeard = this.#deps.clock.now();
    socket.addEventListener('open', () => {
      if (socket !== this.#socket) return;
      this.#opened = true;
      this.#lastHeard = this.#deps.clock.now();
      this.#send(encodeStep1(Y.encodeStateVector(this.#doc)));
    });
    socket.addEventListener('message', (event) => {
      if (socket === this.#socket) this.#receive(event.data);
    });
    socket.addEventListener('close', (event) => {
      if (socket === this.#socket) this.#onClose({ code: event.code, reason: String(event.reason ?? '') });
    });
    // An error is always followed by a close event, which decides what happens next.
    socket.addEventListener('error', () => {});
    this.#scheduleHeartbeat();
  }

  #receive(data: unknown): void {
    this.#lastHeard = this.#deps.clock.now();
    let message: ServerMessage;
    try {
      message = decodeServerMessage(toBytes(data));
    } catch (err) {
      this.#drop({ code: SILENT_LINK, reason: `garbled message from the server: ${(err as Error).message}` });
      return;
    }
    try {
      switch (message.type) {
        case 'step1':
          this.#send(encodeStep2(Y.encodeStateAsUpdate(this.#doc, message.stateVector)));
          this.#forwarding = true;
          return;
        case 'step2':
          Y.applyUpdate(this.#doc, message.update, this);
          if (this.#syncedAt === null && this.#socket !== null) {
            this.#syncedAt = this.#deps.clock.now();
            this.#setStatus({ state: 'synced' });
            this.#deps.onSynced();
          }
          return;
        case 'update':
          Y.applyUpdate(this.#doc, message.update, this);
          return;
        case 'ignored':
          return;
      }
    } catch (err) {
      this.#drop({ code: SILENT_LINK, reason: `cannot apply the server's update: ${(err as Error).message}` });
    }
  }

  readonly #onDocUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || !this.#forwarding) return;
    this.#send(encodeUpdate(update));
  };

  #send(message: Uint8Array): void {
    const socket = this.#socket;
    if (socket === null || socket.readyState !== OPEN) return;
    try {
      socket.send(message);
    } catch (err) {
      this.#drop({ code: SILENT_LINK, reason: `send failed: ${(err as Error).message}` });
    }
  }

  #onClose(close: CloseInfo): void {
    const opened = this.#opened;
    this.#detach();
    if (this.#closed) return;
    // A refused upgrade (expired or revoked token: HTTP 401) looks like a network error.
    if (!opened && this.#deps.tokens.canRefresh) this.#deps.tokens.invalidate();
    switch (closeAction(close.code)) {
      case 'stop':
        this.#stop(close.code, close.reason);
        return;
      case 'refresh-token':
        this.#deps.tokens.invalidate();
        if (!this.#deps.tokens.canRefresh) {
          this.#stop(close.code, close.reason || 'token expired; sign in again');
          return;
        }
        this.#retryLater(close);
        return;
      case 'reset-replica':
        this.#resetReplica(close);
        return;
      case 'reconnect':
        this.#retryLater(close);
        return;
    }
  }

  /** 4410: no reconnect until the account has a fresh replica; then at once. */
  #resetReplica(close: CloseInfo): void {
    this.#lastClose = close;
    this.#resetting = true;
    this.#setStatus({ state: 'offline', retryInMs: null, lastClose: close });
    this.#deps.onReplicaOutdated(close).then(
      () => {
        this.#resetting = false;
        if (this.#closed || this.#stopped) return;
        this.#deps.backoff.reset();
        this.#connect();
      },
      (err: unknown) => {
        this.#resetting = false;
        if (this.#closed) return;
        this.#stop(close.code, `${close.reason} (the replica could not be reset: ${(err as Error)?.message ?? err})`);
      },
    );
  }

  /** Leaves the current socket at once (it may be stuck), then reconnects with backoff. */
  #drop(why: CloseInfo): void {
    this.#abandon(why.reason);
    this.#retryLater(why);
  }

  /** Closes and forgets the current socket and any attempt in progress, without deciding what next. */
  #abandon(reason: string): void {
    this.#attemptId++;
    this.#clearTimer();
    const socket = this.#socket;
    this.#detach();
    if (socket === null) return;
    try {
      const terminate = (socket as { terminate?: () => void }).terminate;
      if (typeof terminate === 'function') terminate.call(socket);
      else socket.close(NORMAL_CLOSURE, reason.slice(0, 100));
    } catch {
      // Closing a socket that never opened may throw in some implementations; it is gone either way.
    }
  }

  #detach(): void {
    const socket = this.#socket;
    this.#socket = null;
    this.#forwarding = false;
    if (this.#heartbeat !== null) this.#deps.clock.clearTimeout(this.#heartbeat);
    this.#heartbeat = null;
    if (socket !== null && this.#syncedAt !== null) {
      if (this.#deps.clock.now() - this.#syncedAt >= this.#deps.stableMs) this.#deps.backoff.reset();
    }
    this.#syncedAt = null;
    this.#opened = false;
  }

  #retryLater(close: CloseInfo): void {
    this.#lastClose = close;
    if (this.#closed || this.#stopped) return;
    if (!this.#deps.network.online) {
      this.#setStatus({ state: 'offline', retryInMs: null, lastClose: close });
      return;
    }
    const delay = this.#deps.backoff.next();
    this.#clearTimer();
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = null;
      this.#connect();
    }, delay);
    this.#setStatus({ state: 'offline', retryInMs: delay, lastClose: close });
  }

  #stop(code: number, reason: string): void {
    this.#stopped = true;
    this.#clearTimer();
    this.#setStatus({ state: 'error', code, reason });
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * Checks the link every half interval: a sync step 1 after one interval of silence (the
   * server always answers it), and the link counts as dead after two.
   */
  #scheduleHeartbeat(): void {
    const { clock, heartbeatMs } = this.#deps;
    this.#heartbeat = clock.setTimeout(() => {
      this.#heartbeat = null;
      if (this.#socket === null) return;
      const silent = clock.now() - this.#lastHeard;
      if (silent >= 2 * heartbeatMs) {
        this.#drop({ code: SILENT_LINK, reason: `no answer for ${silent} ms` });
        return;
      }
      if (this.#opened && silent >= heartbeatMs) this.#send(encodeStep1(Y.encodeStateVector(this.#doc)));
      this.#scheduleHeartbeat();
    }, heartbeatMs / 2);
  }

  readonly #onNetwork = (online: boolean): void => {
    if (this.#closed) return;
    if (!online) {
      // Chromium keeps a WebSocket open (and silent) when the network goes: leave it now.
      this.#abandon('network offline');
      if (!this.#stopped) this.#setStatus({ state: 'offline', retryInMs: null, lastClose: this.#lastClose });
      return;
    }
    if (this.#stopped || this.#socket !== null) return;
    this.#deps.backoff.reset();
    this.#connect();
  };
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('a text frame is not part of the protocol');
}
