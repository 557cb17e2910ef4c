/** How a connection ended: the WebSocket close code and reason (0 when the SDK gave up on a silent link). */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * The sync state of one account on this device.
 *
 * - `connecting`: getting a token, opening the socket, or waiting for the server's state.
 * - `synced`: connected, and everything the server had when the connection opened has
 *   arrived; local changes are sent as they happen.
 * - `offline`: no connection. `retryInMs` is when the next attempt starts (null: waiting for
 *   the network to come back, or, after a close 4410, for the replica to be dropped, which
 *   reconnects at once); `lastClose` is why the last connection ended.
 * - `error`: stopped for good (close 4400, 4403, 4413, or 4401 with no way to get a new
 *   token). The app should show it; signing in again retries.
 */
export type AccountStatus =
  | { readonly state: 'connecting' }
  | { readonly state: 'synced' }
  | { readonly state: 'offline'; readonly retryInMs: number | null; readonly lastClose: CloseInfo | null }
  | { readonly state: 'error'; readonly code: number; readonly reason: string };

/** The state names of AccountStatus. */
export type AccountState = AccountStatus['state'];

/** Close code the SDK reports when it gave up on a link that stayed silent (never sent on the wire). */
export const SILENT_LINK = 0;
