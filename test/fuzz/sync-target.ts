/**
 * Sends one connection's sync frames on an authenticated WebSocket, then a sync step 1 with
 * an empty state vector and a ping: the server handles a socket's frames in order, so its
 * pong proves every frame before it was handled (and that the process is not stuck). The
 * pong does not wait for the answers, though: a step 1 is answered once everything the
 * answer could contain is on disk (SPEC SYNC-5), so the probe's step 2 may follow the pong,
 * and the step 2 seen last at the pong may answer one of the input's own step 1s (with the
 * state vector the input claimed, so it lacks what that vector says the device has). The
 * server answers a socket's step 1s in order, one step 2 each: the probe's answer is the
 * step 2 whose count matches the step 1s sent, and the outcome waits for it. The outcome
 * is the pong (with that document), the server's close, the HTTP answer that refused the
 * upgrade, or nothing within the time limit.
 */
import { decodeMessage } from '@badgesync/shared';
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

/** Whether the server reads `frame` as a sync step 1 (and so answers it with a step 2). */
function isStep1(frame: Uint8Array): boolean {
  try {
    return decodeMessage(frame).type === 'step1';
  } catch {
    return false;
  }
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
    // The probe and each of the input's frames the server reads as a step 1.
    const asked = 1 + frames.filter(isStep1).length;
    let answered = 0;
    let ponged = false;
    const answeredAll = () => {
      if (ponged && answered >= asked) finish({ kind: 'answered', messages, state });
    };
    const finish = (outcome: SyncOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve(outcome);
    };
    // Past the pong, a missing answer is the probe's fault to report (state null), not a hang.
    const timer = setTimeout(
      () => finish(ponged ? { kind: 'answered', messages, state: null } : { kind: 'timeout' }),
      timeoutMs,
    );
    ws.on('error', () => {});
    ws.on('message', (data: Buffer) => {
      messages++;
      // [0 sync][1 step 2][varuint length][update]: the last one is the probe's answer.
      if (data[0] === 0 && data[1] === 1) {
        answered++;
        state = readPayload(data, 2);
        answeredAll();
      }
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
    ws.on('pong', () => {
      ponged = true;
      answeredAll();
    });
    ws.once('close', (code: number, reason: Buffer) => finish({ kind: 'closed', code, reason: reason.toString() }));
  });
}
