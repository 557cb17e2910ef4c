/**
 * Sends raw request bytes to the server over a plain TCP socket and reads what comes back:
 * the status of every response (pipelined requests answer several), whether the server
 * closed the socket, and whether it answered at all within the time limit.
 */
import net from 'node:net';

export interface HttpOutcome {
  /** Status codes in the order the responses arrived. */
  readonly statuses: readonly number[];
  /** The server ended or reset the connection. */
  readonly closed: boolean;
  /** Neither a complete answer nor a close within the limit. */
  readonly timedOut: boolean;
  /** The first bytes of the answer, for the failure record. */
  readonly head: string;
}

/**
 * Parses as many complete responses as `bytes` holds; a 101 ends parsing (WebSocket frames
 * follow). `complete` is false when the last response is cut short.
 */
export function parseResponses(bytes: Buffer): { statuses: number[]; complete: boolean; upgraded: boolean } {
  const statuses: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at);
    if (end < 0) return { statuses, complete: false, upgraded: false };
    const head = bytes.subarray(at, end).toString('latin1');
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
    if (status === null) return { statuses, complete: false, upgraded: false };
    const code = Number(status[1]);
    statuses.push(code);
    if (code === 101) return { statuses, complete: true, upgraded: true };
    let bodyStart = end + 4;
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      for (;;) {
        const line = bytes.indexOf('\r\n', bodyStart);
        if (line < 0) return { statuses, complete: false, upgraded: false };
        const size = Number.parseInt(bytes.subarray(bodyStart, line).toString('latin1'), 16);
        if (!Number.isFinite(size)) return { statuses, complete: false, upgraded: false };
        bodyStart = line + 2 + size + 2;
        if (size === 0) break;
      }
      at = bodyStart;
    } else {
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      // 1xx, 204 and 304 have no body; otherwise a response without a length runs to the close.
      if (length === null && !(code < 200 || code === 204 || code === 304)) {
        return { statuses, complete: false, upgraded: false };
      }
      at = bodyStart + Number(length?.[1] ?? 0);
    }
    if (at > bytes.length) return { statuses, complete: false, upgraded: false };
  }
  return { statuses, complete: statuses.length > 0, upgraded: false };
}

/**
 * Writes `request`, half-closes (the server answers what it got, then closes), and waits for
 * the close or `timeoutMs`. `localAddress` picks the client address (any of 127.0.0.0/8).
 */
export function sendHttp(
  port: number,
  request: Uint8Array,
  localAddress: string,
  timeoutMs: number,
): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let settled = false;
    const finish = (closed: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const bytes = Buffer.concat(chunks);
      resolve({
        statuses: parseResponses(bytes).statuses,
        closed,
        timedOut,
        head: bytes.subarray(0, 300).toString('latin1'),
      });
    };
    const timer = setTimeout(() => finish(false, true), timeoutMs);
    socket.on('connect', () => {
      socket.write(request);
      socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      // A 101 means a live WebSocket now: the server answered; hang up.
      if (parseResponses(Buffer.concat(chunks)).upgraded) finish(false, false);
    });
    socket.on('error', () => finish(true, false));
    socket.on('close', () => finish(true, false));
  });
}
