/**
 * A Session on a real `ws` connection over TCP (SPEC SYNC-18): the frames of one run reach the
 * peer complete, byte for byte and in order, handed to the kernel in one write; a socket that
 * dies during the run throws nothing.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Session } from '../src/sync/session.js';
import { wsSocketLike } from '../src/sync/ws-socket-like.js';
import { lonelySession } from './session-fixtures.js';

interface Connected {
  readonly session: Session;
  /** The server's end of the TCP connection. */
  readonly socket: Socket;
  /** Every write the server's end handed down to its handle, as the chunks it held. */
  readonly writes: Buffer[][];
  readonly client: WebSocket;
  readonly received: Buffer[];
}

let http: Server;
let wss: WebSocketServer;
const clients: WebSocket[] = [];

beforeEach(async () => {
  wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  wss.close();
  await new Promise<void>((resolve) => http.close(() => resolve()));
});

/** Opens a connection and wraps the server's end as the sync endpoint does. */
async function connect(): Promise<Connected> {
  const accepted = new Promise<{ session: Session; socket: Socket; writes: Buffer[][] }>((resolve) => {
    http.once('upgrade', (req, socket: Socket, head: Buffer) => {
      const writes: Buffer[][] = [];
      // Where a net.Socket hands its data to the kernel: one call is one write (writev).
      const writev = socket._writev?.bind(socket);
      const write = socket._write.bind(socket);
      socket._writev = (chunks, callback) => {
        writes.push(chunks.map((c) => Buffer.from(c.chunk as Buffer)));
        writev?.(chunks, callback);
      };
      socket._write = (chunk, encoding, callback) => {
        writes.push([Buffer.from(chunk as Buffer)]);
        write(chunk, encoding, callback);
      };
      wss.handleUpgrade(req, socket, head, (ws) => {
        const session = lonelySession(wsSocketLike(ws, socket));
        resolve({ session, socket, writes });
      });
    });
  });
  const { port } = http.address() as AddressInfo;
  const client = new WebSocket(`ws://127.0.0.1:${port}/`);
  clients.push(client);
  const received: Buffer[] = [];
  client.on('message', (data: Buffer) => received.push(data));
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const server = await accepted;
  server.writes.length = 0;
  return { ...server, client, received };
}

async function until(check: () => boolean): Promise<void> {
  // Loopback delivers within milliseconds; the bound only turns a hang into a failure.
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Frame i: its index, then i bytes of its own, so a lost, cut or reordered frame shows. */
function frame(i: number): Uint8Array {
  return Uint8Array.from({ length: 1 + (i % 300) }, (_, k) => (k === 0 ? i % 256 : (i * 31 + k) % 256));
}

describe('a run of sends on a real socket', () => {
  test('[SYNC-18] 200 frames sent in one run reach the peer complete and in order, in one socket write', async () => {
    const c = await connect();
    const frames = Array.from({ length: 200 }, (_, i) => frame(i));
    for (const f of frames) c.session.send(f);
    assert.equal(c.writes.length, 0, 'nothing is written while the run goes on');
    await until(() => c.received.length >= frames.length);
    assert.deepEqual(
      c.received.map((b) => new Uint8Array(b)),
      frames,
    );
    assert.equal(c.writes.length, 1, `one write for the run, not one per frame (got ${c.writes.length})`);
    assert.equal(c.writes[0]?.length, 2 * frames.length, 'a header and a payload per frame');
    c.session.send(frame(7));
    await until(() => c.received.length === frames.length + 1);
    assert.equal(c.writes.length, 2, 'the next run is a write of its own');
  });

  test('[SYNC-18] a connection dropped during a run throws nothing, and a close during one leaves after its frames', async () => {
    const dropped = await connect();
    dropped.session.send(frame(1));
    dropped.session.terminate();
    dropped.session.send(frame(2));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(dropped.socket.destroyed, true);

    const closed = await connect();
    const code = new Promise<number>((resolve) => closed.client.once('close', (c: number) => resolve(c)));
    for (let i = 0; i < 3; i++) closed.session.send(frame(i));
    closed.session.close(4000, 'bye');
    closed.session.send(frame(9));
    assert.equal(await code, 4000);
    assert.deepEqual(
      closed.received.map((b) => new Uint8Array(b)),
      [frame(0), frame(1), frame(2)],
    );
  });
});
