/**
 * The store of the cluster mode (docs/CLUSTER.md): what several nodes sharing one database need
 * beyond `Store`. Each account's log is numbered by its own contiguous sequence (1, 2, 3, … with
 * no holes, SPEC STORE-20), so a node that hears of seq n from another knows exactly what it
 * misses; `StoredDoc.lastLogId` is that sequence.
 */
import type { AccountId } from '@badgesync/shared';
import type { OutboxEntry } from './push-outbox.js';
import type { Store } from './store.js';
import type { WriteBatch } from './write-batch.js';

/** The seq given to one committed update. */
export interface CommittedSeq {
  readonly account: AccountId;
  readonly seq: number;
}

/** Log entries of one account after a seq (SPEC STORE-21). */
export interface LogSince {
  /** The account's snapshot first when the asked seq is older than it, then every entry after. */
  readonly updates: Uint8Array[];
  /** The account's newest seq when read: the last entry's, or the caller's own when nothing is newer. */
  readonly lastSeq: number;
}

export interface ClusterStore extends Store {
  /**
   * [STORE-20] commit(), answering the seq given to each of `batch.updates`, in order: per
   * account contiguous, in the order the commits took the account's lock.
   */
  commitWithSeqs(batch: WriteBatch, holdMs?: number): Promise<readonly CommittedSeq[]>;
  /**
   * [STORE-21] Every log entry of the account with a seq above `afterSeq`, oldest first. When
   * the snapshot covers seqs above `afterSeq` (they were compacted away) it comes first and the
   * entries after it follow: applied to a replica at `afterSeq`, the result is the document.
   */
  loadLogSince(account: AccountId, afterSeq: number): Promise<LogSince>;
  /** [STORE-21] The newest seq of each account asked (0: nothing committed). */
  logSeqs(accounts: readonly AccountId[]): Promise<Map<AccountId, number>>;
  /**
   * [STORE-22] Claims for `node` up to `limit` due outbox entries (not parked, due at or before
   * `now`, unclaimed or claimed until at most `now`) until `now + leaseMs`, oldest due first
   * (ties by token): no other node claims them meanwhile. enqueuePush and removePush of an
   * entry clear its claim.
   */
  claimDuePushes(node: string, now: number, limit: number, leaseMs: number): Promise<OutboxEntry[]>;
  /** Whether the database answers now (for /readyz); never rejects. */
  ping(): Promise<boolean>;
}
