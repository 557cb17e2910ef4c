/**
 * One device's network: a TCP proxy between the device (its WebSockets and its HTTP calls)
 * and the server, with the three ways a network fails.
 *
 * - `cut`: a clean drop. Every connection is reset at once and new ones are refused: both
 *   ends know immediately (airplane mode, a Wi-Fi that says goodbye).
 * - `blackhole`: a silent drop. Connections stay open but nothing gets through, either way,
 *   and no FIN or RST either; new connections hang. Only heartbeats can tell (a lift, a
 *   captive portal). On restore the connections of the blackhole are reset, as a dead path's
 *   would be by the time it returns.
 * - `stall`: a congested path. Nothing moves, but nothing is lost either: bytes wait and flow
 *   on restore. A stall shorter than the heartbeat timeouts leaves the connection alive.
 *
 * Upstream connections leave from the device's own loopback address (127.x.y.z), so the
 * server sees one client address per device, as it would in the field (its pre-auth upgrade
 * limit is per address). In a cluster run the target is a chooser: each new connection goes to
 * a live node picked then (a load balancer), and the link knows which node each one reached.
 */
import net from 'node:net';

export type LinkMode = 'open' | 'cut' | 'blackhole' | 'stall';

/** One upstream connection of a link, for the report's timelines: where it went and when. */
export interface LinkConnection {
  readonly port: number;
  /** Epoch ms. */
  readonly openedAt: number;
  /** Epoch ms; null while open. */
  closedAt: number | null;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | null;
  /** The port the upstream went to (null until it is opened). */
  port: number | null;
  /** Opened during a blackhole: reset on restore. */
  blackholed: boolean;
  /** Its entry in `connections`, once the upstream is opened. */
  record: LinkConnection | null;
}

export class ChaosLink {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  readonly #localAddress: string;
  #mode: LinkMode = 'open';
  #target: number | (() => number);
  #closed = false;
  readonly #listeners = new Set<(mode: LinkMode) => void>();
  /** Every upstream connection this link opened, in order (the report's timelines). */
  readonly connections: LinkConnection[] = [];

  private constructor(server: net.Server, target: number | (() => number), localAddress: string) {
    this.#server = server;
    this.#target = target;
    this.#localAddress = localAddress;
  }

  /**
   * A link on 127.0.0.1 (port 0) to `target` (a port, or a chooser called for each new
   * upstream connection), leaving from `localAddress` (a 127/8 address).
   */
  static async open(target: number | (() => number), localAddress: string): Promise<ChaosLink> {
    let link: ChaosLink | null = null;
    const server = net.createServer((client) => {
      if (link === null) client.destroy();
      else link.#accept(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    link = new ChaosLink(server, target, localAddress);
    return link;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** The serverUrl for the SDK. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The SDK's httpUrl: its device calls (push registration, sign-out) take the same path. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get mode(): LinkMode {
    return this.#mode;
  }

  /** Whether bytes flow right now. */
  get flowing(): boolean {
    return this.#mode === 'open';
  }

  /** Called after every mode change. */
  onMode(listener: (mode: LinkMode) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Points new connections at another port (a restarted server). */
  retarget(port: number): void {
    this.#target = port;
  }

  /** Whether a connection of this link, open or blackholed, reached the node on `port`. */
  holds(port: number): boolean {
    for (const pair of this.#pairs) if (pair.port === port) return true;
    return false;
  }

  cut(): void {
    this.#setMode('cut');
    for (const pair of [...this.#pairs]) this.#destroy(pair);
  }

  blackhole(): void {
    if (this.#mode === 'stall') this.#resumeAll();
    this.#setMode('blackhole');
    for (const pair of this.#pairs) pair.blackholed = true;
  }

  stall(): void {
    if (this.#mode !== 'open') return;
    this.#setMode('stall');
    for (const pair of this.#pairs) {
      pair.client.pause();
      pair.upstream?.pause();
    }
  }

  restore(): void {
    const was = this.#mode;
    if (was === 'open') return;
    if (was === 'blackhole') {
      for (const pair of [...this.#pairs]) if (pair.blackholed) this.#destroy(pair);
    }
    this.#setMode('open');
    if (was === 'stall') this.#resumeAll();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    for (const pair of [...this.#pairs]) this.#destroy(pair);
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #setMode(mode: LinkMode): void {
    this.#mode = mode;
    for (const listener of [...this.#listeners]) listener(mode);
  }

  #resumeAll(): void {
    for (const pair of this.#pairs) {
      if (pair.upstream === null) this.#connectUpstream(pair);
      else pair.upstream.resume();
      pair.client.resume();
    }
  }

  #accept(client: net.Socket): void {
    if (this.#closed || this.#mode === 'cut') {
      client.destroy();
      return;
    }
    const pair: Pair = { client, upstream: null, port: null, blackholed: this.#mode === 'blackhole', record: null };
    this.#pairs.add(pair);
    client.on('error', () => {});
    client.on('close', () => {
      // A blackholed path carries no FIN: the server learns nothing until its heartbeats do;
      // restore() resets what is left.
      if (this.#mode === 'blackhole' && pair.blackholed) return;
      this.#destroy(pair);
    });
    client.on('data', (chunk: Buffer) => {
      if (this.#mode === 'open' || this.#mode === 'stall') pair.upstream?.write(chunk);
    });
    if (this.#mode === 'stall') {
      client.pause();
      return;
    }
    // A new connection into a blackhole hangs: no upstream, no answer.
    if (this.#mode === 'blackhole') return;
    this.#connectUpstream(pair);
  }

  #connectUpstream(pair: Pair): void {
    if (pair.upstream !== null || pair.blackholed) return;
    const port = typeof this.#target === 'number' ? this.#target : this.#target();
    const upstream = net.connect({ port, host: '127.0.0.1', localAddress: this.#localAddress });
    pair.upstream = upstream;
    pair.port = port;
    pair.record = { port, openedAt: Date.now(), closedAt: null };
    this.connections.push(pair.record);
    // Bytes the client sent before the upstream existed were paused (stall) or not yet
    // read; the 'data' handler writes to the upstream from here on.
    upstream.on('data', (chunk: Buffer) => {
      if (this.#mode === 'open' || this.#mode === 'stall') pair.client.write(chunk);
    });
    upstream.on('error', () => {});
    upstream.on('close', () => {
      const record = pair.record;
      if (record !== null && record.closedAt === null) record.closedAt = Date.now();
      if (this.#mode === 'blackhole' && pair.blackholed) return;
      this.#destroy(pair);
    });
  }

  #destroy(pair: Pair): void {
    this.#pairs.delete(pair);
    if (pair.record !== null && pair.record.closedAt === null) pair.record.closedAt = Date.now();
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}

/** A distinct loopback source address for device number `index` (0-based). */
export function loopbackAddress(index: number): string {
  return `127.10.${Math.floor(index / 250)}.${(index % 250) + 1}`;
}
