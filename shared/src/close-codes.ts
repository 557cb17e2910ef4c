/**
 * WebSocket close codes of the sync endpoint (SPEC CLOSE-1..CLOSE-6). Only 4400–4499
 * stop a stock y-websocket provider; any other code makes it reconnect and resend.
 */
export const CloseCode = {
  /** Not a valid protocol message or Yjs update. Client: do not reconnect (a bug). */
  invalidMessage: 4400,
  /** Token expired or revoked. Client: get a new token, then reconnect. */
  tokenExpired: 4401,
  /** A valid update that breaks a write rule. Client: do not reconnect. */
  forbiddenWrite: 4403,
  /**
   * The update holds contract-v1 content (the `heads`/`reads`/`mutes` maps): the replica
   * predates the server's v2 document. Client: drop the local replica, sync afresh, then
   * re-apply what the user did that the server has not seen. A stock provider stops (44xx).
   */
  replicaOutdated: 4410,
  /** Message over the configured maximum size. Client: do not reconnect. */
  messageTooLarge: 4413,
  /** Server shutting down. Client: reconnect with backoff. */
  goingAway: 1001,
  /** Overloaded, try later (also: send queue of a slow reader full). Client: reconnect with backoff. */
  tryAgainLater: 1013,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Close codes after which a client must not reconnect on its own. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CloseCode.invalidMessage,
  CloseCode.forbiddenWrite,
  CloseCode.replicaOutdated,
  CloseCode.messageTooLarge,
]);

/** What a client should do after a close with `code`. */
export function closeAction(code: number): 'stop' | 'refresh-token' | 'reset-replica' | 'reconnect' {
  if (code === CloseCode.tokenExpired) return 'refresh-token';
  if (code === CloseCode.replicaOutdated) return 'reset-replica';
  if (TERMINAL_CLOSE_CODES.has(code)) return 'stop';
  return 'reconnect';
}
