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
    /**
     * Cluster mode (SPEC STORE-27): the counts derive from a replica holding the account's
     * whole log through this seq (and this batch's updates of it). The PostgreSQL store writes
     * them only when the log holds exactly that many entries before the batch's, and reports
     * them otherwise; the embedded stores ignore it (one node writes their log).
     */
    readonly heldThrough?: number;
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
