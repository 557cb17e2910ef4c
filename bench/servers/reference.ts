/**
 * The reference server of the fan-out benchmark: `@y/websocket-server` 0.1.1 as its own
 * `bin/server.js` runs it (one WSSharedDoc per room path, every update applied and
 * broadcast), with persistence off (no YPERSISTENCE) and no authentication. Listens on
 * 127.0.0.1:$PORT (0: any) and prints `listening <port>`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setupWSConnection } from '@y/websocket-server/utils';
import { WebSocketServer } from 'ws';

if (process.env.YPERSISTENCE !== undefined) throw new Error('the reference server runs without persistence');

const http = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('okay');
});
const wss = new WebSocketServer({ noServer: true });
wss.on('connection', setupWSConnection);
http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
});
