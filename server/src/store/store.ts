/**
 * The store contract (SPEC STORE-1..STORE-9, STORE-13, STORE-14): everything the server keeps across restarts.
 * Implemented by SqliteStore (the embedded default) and MemoryStore (tests, and the
 * reference the contract suite holds SQLite to). Every method is synchronous: better-sqlite3
 * is, and a synchronous store makes "on disk before acknowledged" a plain ordering.
 */
import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';

/** Everything one turn of the event loop wrote: committed in one transaction (group commit). */
export interface WriteBatch {
  /** Yjs updates (V1), appended to each account's log in this order. */
  readonly updates: ReadonlyArray<{ readonly account: AccountId; readonly update: Uint8Array }>;
  /**
   * The derived counts of accounts whose counts changed. Without `changed`, `counts` replaces
   * everything stored for the account. With it (SPEC STORE-15), only the badge and those
   * threads are written: each one's unread as `counts.threads` has it (none: the thread has
   * no head), muted when `counts.muted` lists it; the other stored threads stay. So a change
   * of one thread writes one thread, whatever the size of the account.
   */
  readonly counts: ReadonlyArray<{
    readonly account: AccountId;
    readonly counts: AccountCounts;
    readonly changed?: readonly string[];
  }>;
  /** First use of a Yjs client ID in an account's document, by a device (or `@server`). */
  readonly bindings: ReadonlyArray<{
    readonly account: AccountId;
    readonly clientId: number;
    readonly device: DeviceId;
  }>;
  /** Answers to remember for an idempotency key (per account), with the time they were given. */
  readonly idempotency: ReadonlyArray<{
    readonly account: AccountId;
    readonly key: string;
    readonly response: string;
    readonly at: number;
  }>;
}

/** An account document as stored: an optional snapshot and the log after it, in order. */
export interface StoredDoc {
  /** Snapshot first (when any), then every logged update after it. */
  readonly updates: readonly Uint8Array[];
  /** ID of the last log entry included; pass to compact(). 0 when none. */
  readonly lastLogId: number;
  /** Number of log entries after the snapshot. */
  readonly logCount: number;
  /** Bytes of those log entries. */
  readonly logBytes: number;
}

/**
 * A push registration: one device in one account, as PUT /v1/accounts/{a}/devices/{d} set it
 * (SPEC STORE-14). A device signed in to two accounts has two, each with its own token, so a
 * device token for one account changes only that account's registration. The phone a push
 * reaches is the APNs token: registrations that carry the same token are one phone.
 */
export interface Registration {
  readonly account: AccountId;
  readonly device: DeviceId;
  /** Lower-case hex APNs device token, or null when none is registered. */
  readonly apnsToken: string | null;
  readonly environment: 'production' | 'sandbox';
  /** Bundle id overriding the configured topic, or null. */
  readonly topic: string | null;
  readonly badges: boolean;
  /** When the APNs token was last registered (ms since epoch); compared with 410 timestamps. */
  readonly tokenRegisteredAt: number;
  /** Why the token stopped being used (e.g. 'Unregistered', 'BadDeviceToken'), or null while valid. */
  readonly tokenInvalidReason: string | null;
  /**
   * False once the device signed out of the account. The registration is kept: its phone may
   * still show the account's count, which the next push (without it) clears.
   */
  readonly signedIn: boolean;
}

/** What APNs refused, for Store.invalidateToken. */
export interface TokenRefusal {
  readonly reason: string;
  /** Registrations of the token made after this (ms since epoch) keep it. */
  readonly registeredAtOrBefore: number;
  /** The environment of the refused push. */
  readonly environment: 'production' | 'sandbox';
  /** The registration's topic the refused push used (null: it named none, the configured one went). */
  readonly topic: string | null;
}

/** The fields a registration may set; omitted ones keep their value. */
export interface DevicePatch {
  readonly apnsToken?: string;
  readonly environment?: 'production' | 'sandbox';
  readonly topic?: string;
  readonly badges?: boolean;
}

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

export interface Store {
  /** [STORE-1] Applies a whole batch in one transaction; durable when it returns. */
  commit(batch: WriteBatch): void;
  /**
   * [STORE-10] Runs `work` (calls of this store) in one transaction, durable when it
   * returns; calls that open their own transaction inside it become part of it.
   * [STORE-13] A throw inside `work` undoes every call made in it and reaches the caller; a
   * nested transaction is a savepoint (its throw undoes its own calls only).
   */
  transaction(work: () => void): void;

  /** [STORE-2] Snapshot and log of one account; an unknown account has no updates. */
  loadDoc(account: AccountId): StoredDoc;
  /**
   * [STORE-3] Replaces the snapshot and every log entry up to `throughLogId` with
   * `snapshot`, atomically; entries appended after throughLogId stay. A throughLogId past
   * the last log ID issued means every entry so far (the snapshot records that ID, so later
   * entries still load). An older throughLogId than the stored snapshot's changes nothing.
   */
  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number): void;
  /** [STORE-4] Yjs client ID → device, for one account. */
  loadBindings(account: AccountId): Map<number, DeviceId>;

  /** [STORE-5] Stored counts; null for an account never counted. */
  getCounts(account: AccountId): AccountCounts | null;
  /** Stored badge of several accounts at once (missing accounts: 0). */
  getBadges(accounts: readonly AccountId[]): Map<AccountId, number>;

  /** [STORE-6] The answer stored for (account, key) if given at or after `notBefore`. */
  getIdempotent(account: AccountId, key: string, notBefore: number): string | null;
  /** Deletes idempotency answers older than `before`; returns how many. */
  purgeIdempotent(before: number): number;

  /**
   * [STORE-7] Registers or updates the device's registration in the account and signs it in,
   * in one transaction. Only that (account, device) pair changes (STORE-14). A sign-out's
   * revocation stays (SPEC AUTH-8).
   */
  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Registration;
  /**
   * Signs the device out of the account and records when: its tokens issued at or before that
   * second are revoked for good (SPEC AUTH-8). The registration is kept, signed out. False
   * when it was not signed in.
   */
  signOut(account: AccountId, device: DeviceId, now: number): boolean;
  /** When the device was last signed out of the account (signed in again since or not); else null. */
  revokedAt(account: AccountId, device: DeviceId): number | null;
  /** The device's registration in the account (signed in or out), or null. */
  getRegistration(account: AccountId, device: DeviceId): Registration | null;
  /** Devices signed in to the account, sorted. */
  devicesOf(account: AccountId): DeviceId[];
  /** [STORE-14] Every registration carrying the APNs token (one phone), signed in or not, sorted by account, device. */
  registrationsOfToken(token: string): Registration[];
  /**
   * Phones a push could reach: tokens carried by a registration that is pushable (token not
   * invalidated, badges on), signed in or not — a phone signed out of everything may still
   * need its badge cleared. Sorted. For the restart sweep that re-queues every badge APNs may
   * not have.
   */
  pushableTokens(): string[];
  /**
   * Marks the token unusable with a reason (410, 400 BadDeviceToken, …) in every registration
   * that carries it for the environment and topic the refused push went to, and registered
   * it at or before `registeredAtOrBefore` (a later registration of the token is newer than
   * what APNs refused; one naming another environment or topic is not what APNs judged).
   */
  invalidateToken(token: string, refusal: TokenRefusal): void;

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
  /** Earliest dueAt among pending, not parked entries; null when none. */
  nextDueAt(): number | null;
  /** Outbox entries by state, disjoint: pending (not parked, due or not) and parked. */
  countPushes(): { pending: number; parked: number };

  /** [STORE-9] Small settings kept with the data (generated secrets, …). */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;

  /** Number of accounts with a stored document. */
  countAccounts(): number;
  close(): void;
}
