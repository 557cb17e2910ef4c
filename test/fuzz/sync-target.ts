/**
 * Sends one connection's sync frames on an authenticated WebSocket, then a sync step 1 with
 * an empty state vector and a ping: the server handles a socket's frames in order, so its
 * pong proves every frame before it was handled (and that the process is not stuck), and
 * the step 2 it sent just before is the account's whole document after the input. The
 * outcome is the pong (with that document), the server's close, the HTTP answer that refused
 * the upgrade, or nothing within the time limit.
 */
import { WebSocket } from 'ws';

export type SyncOutcome =
  | { readonly kind: 'answered'; readonly messages: number; readonly state: Uint8Array | null }
  | { readonly kind: 'closed'; readonly code: number; readonly reason: string }
  | { readonly kind: 'refused'; readonly status: number }
  | { readonly kind: 'timeout' };

/** Sync step 1 with an empty state vector: "send me everything". */
const STATE_PROBE = Uint8Array.of(0, 0, 1, 0);

/** The varuint-length-prefixed payload at `at`, or null when the frame is cut short. */
function readPayload(data: Buffer, at: number): Uint8Array | null {
  let length = 0;
  let scale = 1;
  let i = at;
  for (;;) {
    const byte = data[i++];
    if (byte === undefined) return null;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 128;
  }
  return i + length === data.length ? new Uint8Array(data.subarray(i)) : null;
}

export function sendSync(
  url: string,
  frames: readonly Uint8Array[],
  localAddress: string,
  timeoutMs: number,
): Promise<SyncOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    let messages = 0;
    let state: Uint8Array | null = null;
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
    ws.on('message', (data: Buffer) => {
      messages++;
      // [0 sync][1 step 2][varuint length][update]: keep the last one, the probe's answer.
      if (data[0] === 0 && data[1] === 1) state = readPayload(data, 2);
    });
    ws.once('unexpected-response', (req, res) => {
      finish({ kind: 'refused', status: res.statusCode ?? 0 });
      req.destroy();
    });
    ws.once('open', () => {
      for (const frame of frames) ws.send(frame, { binary: true });
      ws.send(STATE_PROBE, { binary: true });
      ws.ping('probe');
    });
    ws.on('pong', () => finish({ kind: 'answered', messages, state }));
    ws.once('close', (code: number, reason: Buffer) => finish({ kind: 'closed', code, reason: reason.toString() }));
  });
}
