/**
 * A client worker of the memory benchmark (started with an IPC channel): opens
 * many authenticated sync connections that then stay idle. Each answers the y-websocket
 * handshake minimally, as an empty replica would (its step 1 with an empty state vector,
 * an empty step 2 for the server's step 1), and answers pings; it keeps no document.
 * Requests: `open`, `close`.
 *
 * Tokens are minted with the server's token module alone: importing @badgesync/server would
 * load the whole server, a second per worker.
 */
import type { AccountId, DeviceId } from '@badgesync/shared';
import type { WebSocket } from 'ws';
import { mintDeviceToken } from '../../server/src/auth/device-token.js';
import { serveRequests } from '../lib/ipc.js';
import { probeLoopback, sourceAddress, webSocketFrom } from '../lib/loopback.js';
import { SyncType, syncFrame } from '../lib/sync-frames.js';

export interface IdleOpenRequest {
  readonly syncUrl: string;
  readonly deviceSecret: string;
  readonly connections: ReadonlyArray<{ readonly account: string; readonly device: string }>;
  /** Index of the first connection among all workers' (for source addresses). */
  readonly connectionOffset: number;
  /** 'yjs': wait for the server's step 2 (badgesync, reference); 'open': the relay. */
  readonly ready: 'yjs' | 'open';
  readonly concurrency: number;
}

export interface IdleOpenAnswer {
  readonly opened: number;
  readonly failed: number;
  readonly ms: number;
  /** Milliseconds from starting the connection to ready, per connection, in order. */
  readonly readyMs: Float64Array;
  readonly firstError: string | null;
}

/** Step 1 with the state vector of an empty document (no clients). */
const EMPTY_STEP1 = syncFrame(SyncType.step1, new Uint8Array([0]));
/** Step 2 with the update of an empty document (no structs, no deletes). */
const EMPTY_STEP2 = syncFrame(SyncType.step2, new Uint8Array([0, 0]));
/** How long one connection may take before it counts as failed. */
const CONNECT_TIMEOUT_MS = 30_000;

const sockets: WebSocket[] = [];

function connect(url: string, index: number, ready: 'yjs' | 'open'): Promise<WebSocket> {
  const Socket = webSocketFrom(sourceAddress(index));
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new Socket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('timed out'));
    }, CONNECT_TIMEOUT_MS);
    const done = (err: Error | null) => {
      clearTimeout(timer);
      if (err === null) resolve(ws);
      else reject(err);
    };
    ws.on('error', (err) => done(err));
    ws.on('unexpected-response', (_req, res) => done(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.on('open', () => {
      if (ready === 'open') return done(null);
      ws.send(EMPTY_STEP1);
    });
    ws.on('message', (data: Buffer) => {
      if (data[0] !== 0) return;
      if (data[1] === 0) ws.send(EMPTY_STEP2);
      else if (data[1] === 1) done(null);
    });
  });
}

async function open(request: IdleOpenRequest): Promise<IdleOpenAnswer> {
  await probeLoopback();
  const began = performance.now();
  const readyMs = new Float64Array(request.connections.length);
  let opened = 0;
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const lane = async () => {
    while (next < request.connections.length) {
      const i = next++;
      const { account, device } = request.connections[i] as { account: string; device: string };
      const token = await mintDeviceToken(request.deviceSecret, account as AccountId, device as DeviceId, 24 * 3600);
      const url = `${request.syncUrl}/${account}?token=${token}`;
      const start = performance.now();
      try {
        sockets.push(await connect(url, request.connectionOffset + i, request.ready));
        readyMs[i] = performance.now() - start;
        opened++;
      } catch (err) {
        readyMs[i] = Number.NaN;
        failed++;
        firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, request.concurrency) }, lane));
  return { opened, failed, ms: performance.now() - began, readyMs, firstError };
}

async function close(): Promise<number> {
  const count = sockets.length;
  for (const ws of sockets.splice(0)) ws.terminate();
  return count;
}

serveRequests({ open, close });
