/**
 * Two in-memory ends of one WebSocket connection, for driving the real Session and room
 * without a network: every frame waits in its direction's queue, in order, until the test
 * delivers it, so a test decides exactly what arrives when. The server end is the
 * `WebSocketLike` a Session writes to; the client end is what a device holds.
 */
import type { WebSocketLike } from '../src/sync/websocket-like.js';

/** What a dropped connection reports, as a browser does when no close frame arrived. */
export const ABNORMAL_CLOSURE = 1006;

export type ClientFrame =
  | { readonly kind: 'message'; readonly data: Uint8Array }
  | { readonly kind: 'close'; readonly code: number; readonly reason: string };

export interface SocketClose {
  readonly code: number;
  readonly reason: string;
  /** Who ended it: the server's close or terminate, or the client (a dropped network). */
  readonly by: 'server' | 'client';
}

export interface SocketPairHandlers {
  /** A frame reached the server (what `ws` emits as 'message'). */
  readonly serverMessage: (data: Uint8Array) => void;
  /** The connection is gone for the server (what `ws` emits as 'close'). */
  readonly serverClosed: () => void;
  /** A frame reached the client. */
  readonly clientMessage: (data: Uint8Array) => void;
  /** The client saw the connection end: a close frame, or a drop (1006). */
  readonly clientClosed: (code: number, reason: string) => void;
}

export class TestSocketPair {
  /** Frames the server sent that the client has not received yet. */
  readonly toClient: ClientFrame[] = [];
  /** Frames the client sent that the server has not received yet. */
  readonly toServer: Uint8Array[] = [];
  /** How the connection ended, from the moment one side ended it; null while open. */
  ended: SocketClose | null = null;
  /** Every close code the client received or reported, in order (at most one). */
  readonly clientCloses: number[] = [];
  #handlers: SocketPairHandlers | null = null;
  #serverGone = false;

  /** The end a Session writes to. */
  readonly server: WebSocketLike;

  constructor() {
    const pair = this;
    this.server = {
      send(data) {
        // `ws` drops a send on a closing or closed socket (and reports it to a callback only).
        if (pair.ended === null) pair.toClient.push({ kind: 'message', data: data.slice() });
      },
      close(code, reason) {
        if (pair.ended !== null) return;
        pair.ended = { code, reason, by: 'server' };
        pair.toClient.push({ kind: 'close', code, reason });
      },
      terminate() {
        if (pair.ended === null) pair.ended = { code: ABNORMAL_CLOSURE, reason: 'terminated', by: 'server' };
        pair.#drop();
      },
      // Frames already wait here until the test delivers them: a cork changes nothing a device sees.
      cork() {},
      uncork() {},
      get bufferedAmount() {
        let bytes = 0;
        for (const frame of pair.toClient) if (frame.kind === 'message') bytes += frame.data.byteLength;
        return bytes;
      },
    };
  }

  /** Wires both ends; frames are delivered only through the flush methods. */
  attach(handlers: SocketPairHandlers): void {
    this.#handlers = handlers;
  }

  get open(): boolean {
    return this.ended === null;
  }

  /** The client sends a frame; it waits until flushToServer. Dropped once the connection ended. */
  clientSend(data: Uint8Array): void {
    if (this.ended === null) this.toServer.push(data.slice());
  }

  /**
   * Delivers up to `n` waiting client frames to the server, in order; returns how many. Frames
   * sent before a server close still arrive (the server ignores them, as `ws` still emits them).
   */
  flushToServer(n = Number.POSITIVE_INFINITY): number {
    let delivered = 0;
    while (delivered < n && !this.#serverGone) {
      const data = this.toServer.shift();
      if (data === undefined) break;
      delivered++;
      this.#handlers?.serverMessage(data);
    }
    return delivered;
  }

  /** Delivers up to `n` waiting server frames to the client, in order; a close frame ends the connection. */
  flushToClient(n = Number.POSITIVE_INFINITY): number {
    let delivered = 0;
    while (delivered < n) {
      const frame = this.toClient.shift();
      if (frame === undefined) break;
      delivered++;
      if (frame.kind === 'message') {
        this.#handlers?.clientMessage(frame.data);
        continue;
      }
      // The close handshake completes: both ends see the connection closed.
      this.clientCloses.push(frame.code);
      this.#handlers?.clientClosed(frame.code, frame.reason);
      this.#drop();
      break;
    }
    return delivered;
  }

  /** Every frame either way until both queues are empty or the connection is gone. */
  flushAll(): void {
    while (this.toServer.length > 0 || this.toClient.length > 0) {
      const moved = this.flushToServer() + this.flushToClient();
      if (moved === 0) return;
    }
  }

  /** The network fails: nothing in flight arrives, each end learns the connection is gone. */
  dropFromClient(): void {
    if (this.ended === null) this.ended = { code: ABNORMAL_CLOSURE, reason: 'dropped', by: 'client' };
    this.#drop();
  }

  #drop(): void {
    this.toServer.length = 0;
    this.toClient.length = 0;
    if (!this.#serverGone) {
      this.#serverGone = true;
      this.#handlers?.serverClosed();
    }
    if (this.clientCloses.length === 0) {
      // A close frame still in flight never arrives: the client sees an abnormal closure.
      this.clientCloses.push(ABNORMAL_CLOSURE);
      this.#handlers?.clientClosed(ABNORMAL_CLOSURE, 'connection lost');
    }
  }
}
