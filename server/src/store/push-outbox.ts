/** A badge waiting to be sent to one phone (APNs token): at most one per token, the newest value. */
export interface OutboxEntry {
  /** The APNs token (lower-case hex): every registration carrying it gets this one push. */
  readonly token: string;
  readonly badge: number;
  /** When the counts change that produced this value happened (ms); for latency metrics. */
  readonly changedAt: number;
  /** Earliest time to (re)try (ms). */
  readonly dueAt: number;
  readonly attempts: number;
  /** True once retries are exhausted or the provider key is rejected: kept, not retried until revived. */
  readonly parked: boolean;
}

/** Push state per phone (SPEC STORE-8): by APNs token, the badge waiting to go and the last one APNs accepted. */
export interface PushOutbox {
  /** [STORE-8] The last badge APNs accepted for the token, or null. */
  getDelivered(token: string): number | null;
  setDelivered(token: string, badge: number, at: number): void;
  /** Forgets what APNs had: a new token, or badges turned back on, has received nothing yet. */
  clearDelivered(token: string): void;
  /** Queues (or replaces) the token's pending badge. */
  enqueuePush(entry: OutboxEntry): void;
  getPush(token: string): OutboxEntry | null;
  /** Removes the token's pending badge if it still carries `badge` (a newer value stays). */
  removePush(token: string, badge: number): void;
  /** Pending, not parked entries due at or before `now`, oldest due first (ties by token). */
  duePushes(now: number, limit: number): OutboxEntry[];
  /** Outbox entries by state, disjoint: pending (not parked, due or not) and parked. */
  countPushes(): { pending: number; parked: number };
}
