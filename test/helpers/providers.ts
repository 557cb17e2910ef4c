/**
 * Stock y-websocket providers against a server process. BroadcastChannel is disabled:
 * two providers of one room in one process would otherwise sync without the server.
 */
import { WebSocket } from 'ws';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { deviceToken } from './api-client.js';
import type { ServerProcess } from './server-process.js';

export interface Device {
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;
  /** Close events seen by the provider's socket: code and reason. */
  readonly closes: Array<{ code: number; reason: string }>;
  destroy(): void;
}

export async function connectDevice(
  server: Pick<ServerProcess, 'syncUrl' | 'deviceSecret'>,
  account: string,
  device: string,
  options: { doc?: Y.Doc; token?: string; connect?: boolean } = {},
): Promise<Device> {
  const doc = options.doc ?? new Y.Doc();
  const token = options.token ?? (await deviceToken(server, account, device));
  const provider = new WebsocketProvider(server.syncUrl, account, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token },
    disableBc: true,
    connect: options.connect ?? true,
  });
  const closes: Array<{ code: number; reason: string }> = [];
  provider.on('connection-close', (event) => {
    if (event) closes.push({ code: event.code, reason: String(event.reason) });
  });
  return {
    doc,
    provider,
    closes,
    destroy() {
      provider.destroy();
      doc.destroy();
    },
  };
}

/** Resolves when the provider reports synced (or rejects after `ms`). */
export function synced(device: Device, ms = 10_000): Promise<void> {
  if (device.provider.synced) return Promise.resolve();
  return waitFor(() => device.provider.synced, ms, 'provider synced');
}

/** Polls `check` every 10 ms until it is true; rejects after `ms` with `what`. */
export async function waitFor(check: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
