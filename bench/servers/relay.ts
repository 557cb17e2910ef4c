/**
 * The floor of the fan-out benchmark: a `ws` server that forwards every binary message to
 * the other sockets of the same room (the URL path), without decoding, validating or
 * storing anything. It does not answer sync step 1, so providers never report "synced"
 * through it (peers answer each other's step 1 instead). Listens on 127.0.0.1:$PORT and
 * prints `listening <port>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type WebSocket, WebSocketServer } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();

const http = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('okay');
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const name = new URL(req.url ?? '/', 'http://x').pathname;
    let room = rooms.get(name);
    if (room === undefined) {
      room = new Set();
      rooms.set(name, room);
    }
    const peers = room;
    peers.add(ws);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      for (const peer of peers) if (peer !== ws) peer.send(data, { binary: true });
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      peers.delete(ws);
      if (peers.size === 0) rooms.delete(name);
    });
  });
});
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
});
