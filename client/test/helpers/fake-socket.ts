import type { WebSocketLike } from '../../src/websocket-like.js';
import { decodeServerMessage, encodeStep1, encodeStep2, encodeUpdate, type ServerMessage } from '../../src/wire.js';

/** Any of WebSocketLike's listeners; called with the event it expects. */
type Handler = (event: never) => void;

/**
 * A WebSocket the test plays the server for: it records what the SDK sends and delivers
 * what the test says, when the test says.
 */
export class FakeSocket implements WebSocketLike {
  static readonly all: FakeSocket[] = [];
  binaryType = 'blob';
  readyState = 0;
  readonly sent: Uint8Array[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  terminated = false;
  readonly #handlers = new Map<string, Handler[]>();

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  static reset(): void {
    FakeSocket.all.length = 0;
  }

  static get last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (socket === undefined) throw new Error('no socket opened');
    return socket;
  }

  addEventListener(type: string, listener: Handler): void {
    const list = this.#handlers.get(type) ?? [];
    list.push(listener);
    this.#handlers.set(type, list);
  }

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { ...(code === undefined ? {} : { code }), ...(reason === undefined ? {} : { reason }) };
    this.readyState = 3;
  }

  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
  }

  /** What the SDK sent, decoded with the same codec (sync messages only). */
  sentMessages(): ServerMessage[] {
    return this.sent.map((bytes) => decodeServerMessage(bytes));
  }

  // The server's side.
  open(): void {
    this.readyState = 1;
    this.#emit('open');
  }
  serverStep1(stateVector: Uint8Array): void {
    this.#emit('message', { data: encodeStep1(stateVector).slice().buffer });
  }
  serverStep2(update: Uint8Array): void {
    this.#emit('message', { data: encodeStep2(update).slice().buffer });
  }
  serverUpdate(update: Uint8Array): void {
    this.#emit('message', { data: encodeUpdate(update).slice().buffer });
  }
  serverRaw(bytes: Uint8Array): void {
    this.#emit('message', { data: bytes.slice().buffer });
  }
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.#emit('close', { code, reason });
  }
  /** A failed connection attempt: error, then close 1006, without ever opening. */
  fail(): void {
    this.readyState = 3;
    this.#emit('error');
    this.#emit('close', { code: 1006, reason: '' });
  }

  #emit(type: string, event?: unknown): void {
    for (const handler of this.#handlers.get(type) ?? []) (handler as (event: unknown) => void)(event);
  }
}
