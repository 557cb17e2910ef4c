/**
 * Sync connections for cold-path measurements, from loopback source addresses of their own
 * (lib/loopback.ts): a stock provider timed from connect to synced, and a raw device that
 * sends frames and waits for the server to acknowledge them.
 */
import { parseAccountId } from '@badgesync/shared';
import type { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
// The token module alone: importing @badgesync/server would load the whole server.
import { mintDeviceToken } from '../../server/src/auth/device-token.js';
import { sourceAddress, webSocketFrom } from './loopback.js';
import type { RunningServer } from './servers.js';
import { SyncType, syncFrame } from './sync-frames.js';

let connectionIndex = 0;

/** connect → synced with a stock provider and a fresh document, in ms. */
export async function timeProviderSync(server: RunningServer, account: string, device: string): Promise<number> {
  const token = await mintDeviceToken(server.deviceSecret, parseAccountId(account), device as never, 3600);
  const doc = new Y.Doc();
  const began = performance.now();
  const provider = new WebsocketProvider(server.syncUrl, account, doc, {
    WebSocketPolyfill: webSocketFrom(sourceAddress(connectionIndex++)) as unknown as typeof globalThis.WebSocket,
    params: { token },
    disableBc: true,
  });
  provider.awareness.setLocalState(null);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${account} did not sync within 10 s`)), 10_000);
      provider.on('sync', (synced: boolean) => {
        if (!synced) return;
        clearTimeout(timer);
        resolve();
      });
    });
    return performance.now() - began;
  } finally {
    provider.destroy();
    doc.destroy();
  }
}

export interface RawDevice {
  readonly ws: WebSocket;
  /** Sends a step 1 and resolves with the server's step 2: everything sent before is applied and on disk. */
  acked(): Promise<void>;
}

/** Opens a sync connection for `device` that ignores what the server sends but step 2s. */
export async function openRawDevice(server: RunningServer, account: string, device: string): Promise<RawDevice> {
  const token = await mintDeviceToken(server.deviceSecret, parseAccountId(account), device as never, 3600);
  const Socket = webSocketFrom(sourceAddress(connectionIndex++));
  const ws = new Socket(`${server.syncUrl}/${account}?token=${token}`);
  let waiting: (() => void) | null = null;
  ws.on('message', (data: Buffer) => {
    if (data[0] === 0 && data[1] === 1 && waiting !== null) {
      const done = waiting;
      waiting = null;
      done();
    }
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  return {
    ws,
    // A step 1 is answered after everything before it on this socket is applied and on disk.
    acked: () =>
      new Promise<void>((resolve, reject) => {
        waiting = resolve;
        ws.once('close', (code: number) => reject(new Error(`closed with ${code} before the acknowledgement`)));
        ws.send(syncFrame(SyncType.step1, new Uint8Array([0])));
      }),
  };
}
