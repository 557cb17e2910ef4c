import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';

/** Everything one turn of the event loop wrote: committed in one transaction (group commit). */
export interface WriteBatch {
  /** Yjs updates (V1), appended to each account's log in this order. */
  readonly updates: ReadonlyArray<{ readonly account: AccountId; readonly update: Uint8Array }>;
  /** The derived counts of accounts whose counts changed, replacing the stored ones. */
  readonly counts: ReadonlyArray<{ readonly account: AccountId; readonly counts: AccountCounts }>;
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
