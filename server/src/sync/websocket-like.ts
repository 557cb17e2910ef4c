/**
 * The little of a WebSocket that rooms and sessions use, so they never import `ws` and
 * protocol tests can run on an in-memory socket pair.
 */
export interface WebSocketLike {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
  /** Drops the connection without a close handshake (dead peers). */
  terminate(): void;
  /**
   * Holds what is sent from now on in the socket until as many uncork() calls, then hands it
   * to the network in one write, frames unchanged and in order (SPEC SYNC-18). Calls nest, like
   * a Node stream's; neither throws on a closing or closed socket.
   */
  cork(): void;
  uncork(): void;
  /** Bytes queued but not yet written to the network (held by cork() included). */
  readonly bufferedAmount: number;
}
