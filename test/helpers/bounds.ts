/**
 * Tools for tests of the server's bounds: its resident memory, HTTP calls from a chosen
 * client address with a deadline, idle TCP sockets, and hand-built awareness frames.
 */

import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { concat, MSG_AWARENESS, varBytes, varUint } from './wire.js';

/** The resident set size of process `pid` in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  const kb = Number(/(\d+)/.exec(line ?? '')?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS for ${pid}`);
  return kb * 1024;
}

export interface HttpAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * One HTTP request on a fresh socket (no keep-alive pool), from `localAddress` when given;
 * rejects when no answer arrives within `ms` — the "answers promptly" of these tests.
 */
export function httpCall(
  url: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    localAddress?: string;
    ms?: number;
  } = {},
): Promise<HttpAnswer> {
  const ms = options.ms ?? 3_000;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers ?? {},
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`${options.method ?? 'GET'} ${url} did not answer within ${ms} ms`));
    }, ms);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(options.body);
  });
}

/** An idle TCP socket to the server, collecting whatever the server writes to it. */
export interface IdleSocket {
  readonly socket: Socket;
  received: string;
  closed: boolean;
}

/** Opens `count` TCP sockets from `localAddress` that never send a byte; resolves once all connected or failed. */
export async function idleSockets(port: number, count: number, localAddress = '127.0.0.1'): Promise<IdleSocket[]> {
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<IdleSocket>((resolve) => {
          const socket = connect({ port, host: '127.0.0.1', localAddress });
          const idle: IdleSocket = { socket, received: '', closed: false };
          socket.on('data', (chunk: Buffer) => {
            idle.received += chunk.toString('utf8');
          });
          socket.on('close', () => {
            idle.closed = true;
          });
          socket.on('error', () => resolve(idle));
          socket.once('connect', () => resolve(idle));
        }),
    ),
  );
}

/** An awareness message frame: entries of (client ID, clock, JSON state text). */
export function awarenessFrame(...entries: Array<[clientId: number, clock: number, json: string]>): Uint8Array {
  const parts: Array<Uint8Array | number[]> = [varUint(entries.length)];
  for (const [clientId, clock, json] of entries) {
    parts.push(varUint(clientId), varUint(clock), varBytes(new TextEncoder().encode(json)));
  }
  return concat(varUint(MSG_AWARENESS), varBytes(concat(...parts)));
}

/** The query-awareness message: one byte. */
export const QUERY_AWARENESS = new Uint8Array([3]);

/** The client IDs of the awareness messages a client received (state `null` excluded). */
export function awarenessClients(payloads: readonly Uint8Array[]): Set<number> {
  const seen = new Set<number>();
  for (const payload of payloads) {
    let at = 0;
    const read = (): number => {
      let n = 0;
      let scale = 1;
      for (;;) {
        const byte = payload[at++] as number;
        n += (byte & 0x7f) * scale;
        if (byte < 0x80) return n;
        scale *= 128;
      }
    };
    for (let count = read(); count > 0; count--) {
      const id = read();
      read();
      const length = read();
      const state = new TextDecoder().decode(payload.subarray(at, at + length));
      at += length;
      if (state === 'null') seen.delete(id);
      else seen.add(id);
    }
  }
  return seen;
}
