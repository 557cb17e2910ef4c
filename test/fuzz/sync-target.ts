/**
 * Sends one connection's sync frames on an authenticated WebSocket, then a ping: the server
 * handles a socket's frames in order, so its pong proves every frame before it was handled
 * (and that the process is not stuck). The outcome is the pong, the server's close, the
 * HTTP answer that refused the upgrade, or nothing within the time limit.
 */
import { WebSocket } from 'ws';

export type SyncOutcome =
  | { readonly kind: 'answered'; readonly messages: number }
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string }
  | { readonly kind: 'refused'; readonly status: number }
  | { readonly kind: 'timeout' };

export function sendSync(
  url: string,
  frames: readonly Uint8Array[],
  localAddress: string,
  timeoutMs: number,
): Promise<SyncOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    let messages = 0;
    let settled = false;
    const finish = (outcome: SyncOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    ws.on('error', () => {});
    ws.on('message', () => messages++);
    ws.once('unexpected-response', (req, res) => {
      finish({ kind: 'refused', status: res.statusCode ?? 0 });
      req.destroy();
    });
    ws.once('open', () => {
      for (const frame of frames) ws.send(frame, { binary: true });
      ws.ping('probe');
    });
    ws.on('pong', () => finish({ kind: 'answered', messages }));
    ws.once('close', (code: number, reason: Buffer) => finish({ kind: 'closed', code, reason: reason.toString() }));
  });
}
