/**
 * One SDK device against a server process, for the end-to-end tests and the demo: a
 * BadgeSync on the `ws` WebSocket, signed in to one account with tokens minted from the
 * server's device secret, and a record of every status it went through.
 */
import { type Account, type AccountStatus, BadgeSync, type BadgeSyncStorage, MemoryStorage } from '@badgesync/client';
import { WebSocket } from 'ws';
import { deviceToken } from '../helpers/api-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

export interface SdkDeviceOptions {
  readonly server: Pick<ServerProcess, 'syncUrl' | 'http' | 'deviceSecret'>;
  readonly account: string;
  readonly device: string;
  /** Default: the server's own sync URL (no tunnel). */
  readonly serverUrl?: string;
  readonly storage?: BadgeSyncStorage;
  /** Default 400 ms: a dead link is noticed within a second or so. */
  readonly heartbeatMs?: number;
  /** Seconds each minted token lives; default one hour. */
  readonly tokenTtl?: number;
  /** Overrides minting (e.g. a token for another device). */
  readonly getToken?: () => Promise<string>;
}

export interface SdkDevice {
  readonly sync: BadgeSync;
  readonly account: Account;
  readonly statuses: AccountStatus[];
  /** Tokens handed out through getToken. */
  readonly tokens: string[];
  close(): Promise<void>;
}

/** Backoff for tests: first retry within 50 ms, never more than a second apart. */
export const FAST_BACKOFF = { baseMs: 50, capMs: 1_000 } as const;

export async function sdkDevice(options: SdkDeviceOptions): Promise<SdkDevice> {
  const tokens: string[] = [];
  const getToken =
    options.getToken ?? (() => deviceToken(options.server, options.account, options.device, options.tokenTtl ?? 3600));
  const sync = new BadgeSync({
    serverUrl: options.serverUrl ?? options.server.syncUrl,
    httpUrl: options.server.http,
    deviceId: options.device,
    storage: options.storage ?? new MemoryStorage(),
    WebSocket,
    heartbeatMs: options.heartbeatMs ?? 400,
    backoff: FAST_BACKOFF,
  });
  const statuses: AccountStatus[] = [];
  sync.on('status', (event) => statuses.push(event.status));
  const account = await sync.signIn(options.account, {
    getToken: async () => {
      const token = await getToken();
      tokens.push(token);
      return token;
    },
  });
  statuses.push(account.status);
  return { sync, account, statuses, tokens, close: () => sync.close() };
}

/** Polls `check` (sync or async) every 20 ms until true; rejects after `ms` naming `what`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
