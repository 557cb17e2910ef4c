/**
 * Raw bytes to a server over a plain TCP socket, for requests no HTTP client would send:
 * broken request lines, header junk, truncated and pipelined requests. Either the socket is
 * half-closed after the last byte (a truncated request: the server answers what it got, or
 * closes), or the answer is awaited with the socket open.
 */
import net from 'node:net';

export interface RawAnswer {
  /** Status of every response line the server sent, in order (1xx included). */
  readonly statuses: number[];
  /** Everything the server sent, as latin1 text. */
  readonly text: string;
  /** False when the server neither answered in full nor closed within the time allowed. */
  readonly settled: boolean;
  /** Milliseconds from the connection to the close (or the time-out). */
  readonly ms: number;
}

export interface RawOptions {
  /** Give up after this long (the answer is then `settled: false`). Default 5 s. */
  readonly timeoutMs?: number;
  /** Half-close after writing (default true); false leaves the socket open, as a slow client would. */
  readonly end?: boolean;
  /**
   * Settle once this many response heads (and what follows them at once) have arrived,
   * without waiting for the close: a server keeps a connection open after an answer.
   */
  readonly heads?: number;
  /** Reset the connection (TCP RST) right after writing, as a client that crashes would. */
  readonly reset?: boolean;
}

/** How long after the last expected head the rest of its answer may take to arrive. */
const QUIET_MS = 100;

/** Writes `parts` in order (each its own write) and collects the answer until the server closes. */
export function rawExchange(
  port: number,
  parts: ReadonlyArray<string | Buffer>,
  options: RawOptions = {},
): Promise<RawAnswer> {
  const started = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1');
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    const finish = (settled: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(quiet);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
      resolve({ statuses, text, settled, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5_000);
    socket.on('connect', () => {
      for (const part of parts) socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
      if (options.reset) {
        socket.resetAndDestroy();
        finish(true);
        return;
      }
      if (options.end ?? true) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (options.heads === undefined) return;
      const text = Buffer.concat(chunks).toString('latin1');
      const heads = [...text.matchAll(/HTTP\/1\.[01] \d{3} [\s\S]*?\r\n\r\n/g)].length;
      // The body of the last answer follows its head at once: a short quiet settles it.
      clearTimeout(quiet);
      if (heads >= options.heads) quiet = setTimeout(() => finish(true), QUIET_MS);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

/** A request in HTTP/1.1 text: `Host` first unless `headers` is given without one. */
export function request(
  method: string,
  target: string,
  headers: ReadonlyArray<readonly [string, string]> = [['Host', 'badgesync.test']],
  body = '',
): string {
  const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `${method} ${target} HTTP/1.1\r\n${lines}\r\n${body}`;
}

/** The headers of a well-formed WebSocket upgrade, to take apart in tests. */
export function upgradeHeaders(extra: ReadonlyArray<readonly [string, string]> = []): Array<[string, string]> {
  return [
    ['Host', 'badgesync.test'],
    ['Connection', 'Upgrade'],
    ['Upgrade', 'websocket'],
    ['Sec-WebSocket-Version', '13'],
    ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=='],
    ...extra.map(([n, v]) => [n, v] as [string, string]),
  ];
}
