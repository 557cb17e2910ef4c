import { WebSocket } from 'ws';
import type { ServerProcess } from './server-process.js';

/** Status of a bare upgrade attempt: 101 when it opened, else the HTTP status. */
export function upgradeStatus(server: ServerProcess, account: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.syncUrl}/${account}?token=${encodeURIComponent(token)}`);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.on('error', (err) => reject(err));
  });
}
