/**
 * Records real traffic for the fuzz corpus: a TCP proxy that keeps every byte clients send
 * to the server (HTTP requests and WebSocket upgrade requests), and a `ws` WebSocket class
 * that keeps every frame a device sends (what the SDK and stock providers put on the wire).
 */
import net from 'node:net';
import { WebSocket } from 'ws';

/** One recorded sync frame: which device sent it, in which connection, in order. */
export interface RecordedFrame {
  readonly source: string;
  readonly account: string;
  readonly device: string;
  /** Counts the device's connections, so a reconnect starts a new session. */
  readonly connection: number;
  readonly bytes: Uint8Array;
}

/** The bytes a client sent on one TCP connection through the proxy. */
export interface RecordedConnection {
  readonly bytes: Buffer[];
}

export class RecordingProxy {
  readonly connections: RecordedConnection[] = [];
  readonly #sockets = new Set<net.Socket>();

  private constructor(
    readonly server: net.Server,
    readonly port: number,
  ) {}

  /** A proxy on 127.0.0.1, port 0, to `targetPort` on 127.0.0.1. */
  static async open(targetPort: number): Promise<RecordingProxy> {
    let proxy: RecordingProxy | null = null;
    const server = net.createServer((client) => {
      if (proxy === null) client.destroy();
      else proxy.#accept(client, targetPort);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy = new RecordingProxy(server, (server.address() as net.AddressInfo).port);
    return proxy;
  }

  get http(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get syncUrl(): string {
    return `ws://127.0.0.1:${this.port}/v1/sync`;
  }

  /** Resets every connection (a network drop for the devices behind the proxy). */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #accept(client: net.Socket, targetPort: number): void {
    const recorded: RecordedConnection = { bytes: [] };
    this.connections.push(recorded);
    const upstream = net.connect(targetPort, '127.0.0.1');
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      recorded.bytes.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.on('error', () => {});
      from.on('close', () => {
        this.#sockets.delete(from);
        to.destroy();
      });
    }
  }
}

/**
 * A `ws` WebSocket class that records every frame it sends into `frames`, labelled with
 * `source`, the account (the last path segment of the URL) and `device`.
 */
export function recordingWebSocket(
  frames: RecordedFrame[],
  source: string,
  device: string,
): new (
  address: string,
  protocols?: string | string[],
) => WebSocket {
  let connections = 0;
  class RecordingWebSocket extends WebSocket {
    readonly #account: string;
    readonly #connection: number;

    constructor(address: string | URL, ...rest: unknown[]) {
      super(address, ...(rest as []));
      const url = new URL(String(address));
      this.#account = decodeURIComponent(url.pathname.split('/').pop() ?? '');
      this.#connection = connections++;
    }

    override send(data: unknown, ...rest: unknown[]): void {
      if (data instanceof Uint8Array || data instanceof ArrayBuffer) {
        const bytes = new Uint8Array(data instanceof ArrayBuffer ? data : data.slice());
        frames.push({ source, account: this.#account, device, connection: this.#connection, bytes });
      }
      (super.send as (...args: unknown[]) => void)(data, ...rest);
    }
  }
  return RecordingWebSocket;
}
