/**
 * Every timing constant of the SDK, each with the failure it prevents. Tests pass shorter
 * values through BadgeSyncOptions; apps should rarely need to.
 */
export const Timing = {
  /**
   * First reconnect delay ceiling. A server restart or a Wi-Fi hand-over is over within a
   * second or two; the first retry should land around then, not ten seconds later.
   */
  backoffBaseMs: 500,
  /**
   * Largest reconnect delay ceiling. After an outage every device of every user reconnects:
   * spreading them over up to 30 s keeps the server from a thundering herd, and a person
   * who opens the app waits at most that long (an `online` event skips the wait).
   */
  backoffCapMs: 30_000,
  /**
   * A connection that stayed synced this long resets the backoff. Resetting on every sync
   * would let a server that accepts and then closes at once (overload, 1013) be hammered
   * every half second.
   */
  stableConnectionMs: 10_000,
  /**
   * App-level liveness (browsers cannot see WebSocket pings): after this much silence the
   * SDK sends a sync step 1, which the server always answers; silence for two intervals
   * means the server or the path to it is dead, and the SDK reconnects. Equal to the
   * server's default heartbeat, so a dead link is noticed within 20–25 s, like on the server.
   */
  heartbeatMs: 10_000,
} as const;
export type Timing = typeof Timing;
