import { CloseCode, closeReason, type DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import type { DeviceClaims } from '../auth/device-token.js';
import { guarded } from '../guard.js';
import type { Metrics } from '../metrics.js';
import type { AccountRoom, RoomMember } from '../rooms/account-room.js';
import { decodeMessage, type ProtocolError } from './protocol.js';
import { TokenBucket } from './rate-limit.js';
import type { WebSocketLike } from './websocket-like.js';

export interface SessionLimits {
  /** Bytes queued for a slow reader before it is closed with 1013. */
  readonly maxBufferedBytes: number;
  /** Sustained messages per second one connection may send. */
  readonly messagesPerSecond: number;
  /** Messages one connection may send in a burst. */
  readonly messageBurst: number;
}

/**
 * Defaults of SessionLimits. 4 MiB queued: four maximum-size step 2s for a reader that
 * stalls; beyond that its memory is the server's problem, so it reconnects later and syncs
 * afresh. 200 messages/s with a burst of 1,000: a person taps far slower, a reconnect sends
 * a handful, and a runaway client cannot monopolise a core.
 */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxBufferedBytes: 4 * 1024 * 1024,
  messagesPerSecond: 200,
  messageBurst: 1_000,
};

/** The longest delay a Node timer honours; longer ones fire after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** One authenticated sync connection of one device to one account (SPEC SYNC-1..SYNC-8). */
export class Session implements RoomMember {
  readonly device: DeviceId;
  lastSeen = Date.now();
  lastPing = 0;
  #closed = false;
  readonly #bucket: TokenBucket;
  #expiry: NodeJS.Timeout | undefined;
  /**
   * [CLUSTER-20] Messages that arrived while a refused update waits for the room to catch up
   * with the shared log: handled after it, in order. Null when nothing waits.
   */
  #held: Uint8Array[] | null = null;
  /** [SYNC-18] The socket is corked for this run of sends (uncorked by a microtask). */
  #corked = false;

  constructor(
    private readonly socket: WebSocketLike,
    readonly claims: DeviceClaims,
    private readonly room: AccountRoom,
    private readonly limits: SessionLimits,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.device = claims.device;
    this.#bucket = new TokenBucket(limits.messagesPerSecond, limits.messageBurst);
    this.#armExpiry();
    room.join(this);
  }

  /**
   * [AUTH-3] Closed within seconds of exp (timers may fire a little late, never early).
   * Node fires a timer longer than 2^31 − 1 ms (24.8 days) at once, which closed every
   * connection of a long-lived token with 4401 as it opened (e2e tokens): a longer wait is
   * taken in steps.
   */
  #armExpiry(): void {
    const left = this.claims.expiresAt - Date.now();
    const step = Math.max(0, Math.min(left, MAX_TIMER_MS));
    const expire = guarded(this.log, 'token expiry', () => {
      if (left > MAX_TIMER_MS) this.#armExpiry();
      else this.close(CloseCode.tokenExpired, 'token expired');
    });
    this.#expiry = setTimeout(expire, step);
    this.#expiry.unref();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Any frame or pong proves the peer alive. */
  markAlive(now = Date.now()): void {
    this.lastSeen = now;
  }

  receive(data: Uint8Array, binary: boolean): void {
    if (this.#closed) return;
    this.markAlive();
    if (!binary) return this.close(CloseCode.invalidMessage, 'text frames are not part of the protocol');
    if (!this.#bucket.take()) return this.close(CloseCode.tryAgainLater, 'too many messages');
    if (this.#held !== null) {
      this.#held.push(data);
      return;
    }
    this.#handle(data);
  }

  #handle(data: Uint8Array): void {
    let message: ReturnType<typeof decodeMessage>;
    try {
      message = decodeMessage(data);
    } catch (err) {
      return this.close(CloseCode.invalidMessage, (err as ProtocolError).message);
    }
    switch (message.type) {
      case 'step1':
        this.room.answerStep1(this, message.stateVector);
        return;
      case 'step2':
      case 'update': {
        const result = this.room.receiveUpdate(this, message.update);
        if (result.kind === 'refused') this.#refused(message.update, result);
        return;
      }
      case 'awareness': {
        const result = this.room.receiveAwareness(this, message.update);
        if (result.kind === 'refused') this.close(result.code, result.reason);
        return;
      }
      case 'query-awareness':
        this.room.queryAwareness(this);
        return;
    }
  }

  /**
   * [CLUSTER-20] A refused update: closes the session, or in a cluster first lets the room catch
   * up with the shared log and judges the update again; the session's later messages wait.
   */
  #refused(update: Uint8Array, first: { readonly code: number; readonly reason: string }): void {
    const catching = this.room.catchUp();
    if (catching === null) return this.close(first.code, first.reason);
    this.#held = [];
    catching.then(
      guarded(this.log, 'judging again after a catch-up', () => {
        if (this.#closed) return;
        const again = this.room.receiveUpdate(this, update);
        if (again.kind === 'refused') return this.close(again.code, again.reason);
        this.log.info({ account: this.claims.account, device: this.device }, 'update accepted after catching up');
        const held = this.#held ?? [];
        this.#held = null;
        for (let i = 0; i < held.length; i++) {
          if (this.#closed) return;
          this.#handle(held[i] as Uint8Array);
          if (this.#held !== null) {
            // Refused again: the rest waits behind that one's catch-up.
            this.#held = held.slice(i + 1);
            return;
          }
        }
      }),
      (err: unknown) => {
        this.log.warn({ err, account: this.claims.account }, 'catch-up failed; the refusal stands');
        this.close(first.code, first.reason);
      },
    );
  }

  /**
   * [SYNC-11] Queues `message` unless the queue would then hold more than the limit: what is
   * queued plus what is about to be. A message larger than the limit on its own (a step 2
   * of a large document) is still sent into an empty queue, so the queue exceeds the limit
   * by at most one message, and only when nothing else waits.
   *
   * [SYNC-18] The first send of a run corks the socket until the run ends (a microtask): the
   * relays of one durable batch (the group commit runs its callbacks in one go), a step 1's
   * answers, leave in one socket write instead of one per frame. A send that would pass the
   * limit first hands what the cork holds to the network, then counts what is still queued:
   * a run is held to the limit like sends one by one, so a connection that asks for many large
   * answers in one read (awareness queries) and reads none is closed, not buffered without
   * bound, and one that reads is not closed for what the cork held.
   */
  send(message: Uint8Array): void {
    if (this.#closed) return;
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      queueMicrotask(this.#uncork);
    }
    let queued = this.socket.bufferedAmount;
    if (queued > 0 && queued + message.byteLength > this.limits.maxBufferedBytes) {
      // What the cork holds is not a slow reader's backlog: handed to the network first, the
      // queue is what the network did not take (a reader's kernel buffer takes megabytes).
      this.socket.uncork();
      this.socket.cork();
      queued = this.socket.bufferedAmount;
    }
    if (queued > 0 && queued + message.byteLength > this.limits.maxBufferedBytes) {
      this.close(CloseCode.tryAgainLater, 'send queue full');
      return;
    }
    this.socket.send(message);
  }

  /** Ends the run's cork: its frames go to the network in one write. Runs closed or not. */
  readonly #uncork = (): void => {
    this.#corked = false;
    this.socket.uncork();
  };

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.metrics.closes.inc({ code: String(code) });
    // [CLOSE-7] ws throws on a reason over 123 bytes: cut by UTF-8 bytes, never mid-character.
    this.socket.close(code, closeReason(reason));
    this.detach();
  }

  /** Drops a silent peer without a handshake. */
  terminate(): void {
    if (this.#closed) return;
    this.metrics.heartbeatTerminations.inc();
    this.socket.terminate();
    this.detach();
  }

  /** The socket is gone (closed by either side): leave the room. Idempotent. */
  detach(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#expiry);
    this.room.leave(this);
  }
}
