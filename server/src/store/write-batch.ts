import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { PushWrite } from './push-write.js';

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
  /** [STORE-17] Push-state writes (outbox, delivered badges, refused tokens), in this order, last. */
  readonly push?: readonly PushWrite[];
}
