/**
 * The little of a WebSocket that rooms and sessions use, so they never import `ws` and
 * protocol tests can run on an in-memory socket pair.
 */
export interface WebSocketLike {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Drops the connection without a close handshake (dead peers). */
  terminate(): void;
  /** Bytes queued but not yet written to the network. */
  readonly bufferedAmount: number;
}
