/**
 * A TCP tunnel in front of the server: a device that connects through it can be cut off
 * (connections reset, new ones refused) or frozen (connections stay open but nothing gets
 * through either way: the dead link a phone has in a lift), and restored. Used by the SDK's
 * end-to-end tests and the demo's iPad.
 */
import net from 'node:net';

type TunnelMode = 'open' | 'cut' | 'frozen';

export class Tunnel {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #mode: TunnelMode = 'open';
  /** Connections accepted since the tunnel opened (reconnect attempts show up here). */
  accepted = 0;

  #target: number;

  private constructor(
    server: net.Server,
    readonly port: number,
    target: number,
  ) {
    this.#server = server;
    this.#target = target;
  }

  /** A tunnel on 127.0.0.1, port 0, to `targetPort` on 127.0.0.1. */
  static async open(targetPort: number): Promise<Tunnel> {
    let tunnel: Tunnel | null = null;
    const server = net.createServer((client) => {
      if (tunnel === null) client.destroy();
      else tunnel.#accept(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    tunnel = new Tunnel(server, (server.address() as net.AddressInfo).port, targetPort);
    return tunnel;
  }

  /** ws://127.0.0.1:port — a serverUrl for the SDK. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  get mode(): TunnelMode {
    return this.#mode;
  }

  /** Resets every connection through the tunnel and refuses new ones until restore(). */
  cut(): void {
    this.#mode = 'cut';
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Keeps connections open but lets nothing through, either way, until restore() (then they are reset). */
  freeze(): void {
    this.#mode = 'frozen';
  }

  /** Lets connections through again; connections frozen meanwhile are reset, as a dead link's would be. */
  restore(): void {
    if (this.#mode === 'frozen') {
      for (const socket of this.#sockets) socket.destroy();
      this.#sockets.clear();
    }
    this.#mode = 'open';
  }

  /** Points new connections at another port (a restarted server). */
  retarget(targetPort: number): void {
    this.#target = targetPort;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    this.accepted++;
    if (this.#mode !== 'open') {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.#target, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        if (this.#mode === 'open') to.write(chunk);
      });
      from.on('error', () => {});
      from.on('close', () => {
        this.#sockets.delete(from);
        // A frozen link delivers no FIN either: the other side learns nothing until restore().
        if (this.#mode !== 'frozen') to.destroy();
      });
    }
  }
}
