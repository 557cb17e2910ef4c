/**
 * What test/browser/page.ts offers the tests on `window`, typed without the DOM library so
 * the Node-side tests can name it: `(globalThis as unknown as PageWindow).app` inside
 * `page.evaluate` callbacks.
 */
import type { AccountStatus, ReplicaMeta } from '@badgesync/client';
import type { AccountCounts } from '@badgesync/shared';

export interface PageApp {
  /** Resolves once the account's stored replica is loaded (counts are available). */
  readonly ready: Promise<boolean>;
  markRead(thread: string, seq: number): Promise<void>;
  counts(): Promise<AccountCounts>;
  /** The device badge. */
  badge(): number;
  status(): AccountStatus | null;
  /** Every status since the page loaded, oldest first. */
  statuses(): AccountStatus[];
  syncedOnce(): boolean;
  /** navigator.onLine */
  online(): boolean;
  /** This page's device ID (with `device=local`: the profile's, from localStorage). */
  deviceId(): string;
  /** The account replica's Yjs client ID, and whether it is the stored one reused (SDK-12). */
  clientId(): number | null;
  clientIdReused(): boolean | null;
  /** Closes the SDK (its replica lock goes with it). */
  close(): Promise<void>;
  storageRoundTrip(): Promise<{ reads: unknown; mutes: unknown; meta: ReplicaMeta | null }>;
  /** Stores the account's replica as a v1 SDK left it (with the SDK closed). */
  writeV1Replica(account: string, heads: Record<string, number>, reads: Record<string, number>): Promise<void>;
}

/** The little of a browser WebSocket the tests touch. */
export interface RawSocket {
  readonly readyState: number;
  onopen: (() => void) | null;
  onclose: ((event: { readonly code: number }) => void) | null;
}

/** The page's global object, as the tests see it. */
export interface PageWindow {
  app: PageApp;
  raw?: RawSocket;
  WebSocket: new (url: string) => RawSocket;
}
