/**
 * A hand-driven sync client over a plain `ws` socket: it speaks the y-websocket protocol
 * frame by frame, so tests can send exactly the bytes they mean (forged updates, broken
 * frames, silence) and observe what the server answers and how it closes.
 */
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { deviceToken } from './api-client.js';
import { waitFor } from './providers.js';
import type { ServerProcess } from './server-process.js';
import { decodeServerMessage, type ServerMessage, step1Frame, step2Frame, updateFrame } from './wire.js';

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export interface RawOptions {
  /** Default: a fresh token for (account, device). */
  readonly token?: string;
  readonly doc?: Y.Doc;
  /** Send nothing at all, not even sync step 1 or answers (a dead peer). */
  readonly silent?: boolean;
  /** Answer the server's pings (ws default true). */
  readonly autoPong?: boolean;
  /** Connect from this local address (any of 127.0.0.0/8 on Linux): another client address. */
  readonly localAddress?: string;
}

/** Transaction origin of what the server sent: not echoed back. */
const REMOTE = Symbol('remote');

export class RawClient {
  readonly messages: ServerMessage[] = [];
  closeInfo: CloseInfo | null = null;
  /** Whether the server's sync step 2 (the answer to our step 1) has arrived. */
  synced = false;
  readonly closed: Promise<CloseInfo>;

  private constructor(
    readonly ws: WebSocket,
    readonly doc: Y.Doc,
    private readonly silent: boolean,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString() };
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.#receive(new Uint8Array(data));
    });
  }

  /** Opens a sync connection; rejects when the upgrade is refused. */
  static async open(
    server: Pick<ServerProcess, 'syncUrl' | 'deviceSecret'>,
    account: string,
    device: string,
    options: RawOptions = {},
  ): Promise<RawClient> {
    const token = options.token ?? (await deviceToken(server, account, device));
    const ws = new WebSocket(`${server.syncUrl}/${account}?token=${encodeURIComponent(token)}`, {
      autoPong: options.autoPong ?? true,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const client = new RawClient(ws, options.doc ?? new Y.Doc(), options.silent ?? false);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      ws.once('error', reject);
    });
    if (!client.silent) ws.send(step1Frame(Y.encodeStateVector(client.doc)));
    return client;
  }

  /** Opens and waits for the server's sync step 2. */
  static async synced(
    server: Pick<ServerProcess, 'syncUrl' | 'deviceSecret'>,
    account: string,
    device: string,
    options: RawOptions = {},
  ): Promise<RawClient> {
    const client = await RawClient.open(server, account, device, options);
    await waitFor(() => client.synced, 5000, `${device} synced`);
    return client;
  }

  #receive(bytes: Uint8Array): void {
    const message = decodeServerMessage(bytes);
    this.messages.push(message);
    if (this.silent) return;
    if (message.kind === 'step1') {
      this.ws.send(step2Frame(Y.encodeStateAsUpdate(this.doc, message.payload)));
    } else if (message.kind === 'step2' || message.kind === 'update') {
      Y.applyUpdate(this.doc, message.payload, REMOTE);
      if (message.kind === 'step2') this.synced = true;
    }
  }

  /** Runs `change` on the local doc and returns the update it made, without sending it. */
  capture(change: (doc: Y.Doc) => void): Uint8Array {
    const updates: Uint8Array[] = [];
    const listen = (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) updates.push(update);
    };
    this.doc.on('update', listen);
    try {
      this.doc.transact(() => change(this.doc));
    } finally {
      this.doc.off('update', listen);
    }
    return Y.mergeUpdates(updates);
  }

  /** Runs `change` on the local doc and sends the update as a sync update message. */
  write(change: (doc: Y.Doc) => void): Uint8Array {
    const update = this.capture(change);
    this.ws.send(updateFrame(update));
    return update;
  }

  /** Sends raw bytes (binary) or a string (a text frame). */
  send(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Resolves with the server's close; rejects after `ms`. */
  async closedWithin(ms: number): Promise<CloseInfo> {
    await waitFor(() => this.closeInfo !== null, ms, 'the server to close the socket');
    return this.closeInfo as CloseInfo;
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    this.doc.destroy();
  }
}

export interface UpgradeRefusal {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly retryAfter: string | undefined;
  readonly body: unknown;
}

/**
 * Tries to open `url` as a WebSocket and answers the HTTP response that refused the upgrade
 * (the `unexpected-response` event). Rejects if the upgrade succeeds.
 */
export function refusedUpgrade(
  url: string,
  headers: Record<string, string> = {},
  localAddress?: string,
): Promise<UpgradeRefusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers, ...(localAddress === undefined ? {} : { localAddress }) });
    ws.on('error', () => {});
    ws.once('open', () => {
      ws.terminate();
      reject(new Error(`the upgrade of ${url} was accepted`));
    });
    ws.once('unexpected-response', (req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          retryAfter: res.headers['retry-after'],
          body,
        });
        req.destroy();
      });
    });
  });
}
