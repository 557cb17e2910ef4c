/**
 * A device on a real WebSocket to a real server process, speaking the protocol as a stock
 * y-websocket provider does: sync step 1 on open, a step 2 for the server's step 1, the
 * server's step 2 and updates applied, every local change sent as an update at once.
 */
import { decodeMessage, encodeStep1, encodeStep2, encodeUpdate } from '@badgesync/shared';
import WebSocket from 'ws';
import * as Y from 'yjs';

const REMOTE = Symbol('remote');

export interface SocketClose {
  readonly code: number;
  readonly reason: string;
}

export class SocketClient {
  /** Resolves with the server's close (or the drop). */
  readonly closed: Promise<SocketClose>;
  readonly #socket: WebSocket;
  readonly #waiting: Array<() => void> = [];

  /** `doc`: the replica the device starts with (a fresh one by default, an old one to test its sync). */
  constructor(
    url: string,
    readonly doc: Y.Doc = new Y.Doc(),
  ) {
    const socket = new WebSocket(url);
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    socket.on('open', () => socket.send(encodeStep1(Y.encodeStateVector(this.doc))));
    socket.on('message', (data: Buffer) => this.#receive(new Uint8Array(data)));
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && socket.readyState === WebSocket.OPEN) socket.send(encodeUpdate(update));
    });
  }

  /**
   * Resolves at the server's next sync step 2. After open: once the replica holds the server's
   * document. Asked again on an open socket, it sends a step 1 first: the server answers it
   * only once everything this socket sent before is applied and on disk.
   */
  step2(): Promise<void> {
    const answered = new Promise<void>((resolve) => this.#waiting.push(resolve));
    if (this.#socket.readyState === WebSocket.OPEN) {
      this.#socket.send(encodeStep1(Y.encodeStateVector(this.doc)));
    }
    return answered;
  }

  /** Sends a raw Yjs update as a sync update (what a replica of any shape would send). */
  sendUpdate(update: Uint8Array): void {
    this.#socket.send(encodeUpdate(update));
  }

  close(): void {
    this.#socket.close(1000, 'done');
  }

  #receive(data: Uint8Array): void {
    const message = decodeMessage(data);
    if (message.type === 'step1') {
      this.#socket.send(encodeStep2(Y.encodeStateAsUpdate(this.doc, message.stateVector)));
    } else if (message.type === 'step2' || message.type === 'update') {
      Y.applyUpdate(this.doc, message.update, REMOTE);
      if (message.type === 'step2') this.#waiting.shift()?.();
    }
  }
}
