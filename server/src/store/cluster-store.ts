/**
 * The store of the cluster mode (docs/CLUSTER.md): what several nodes sharing one database need
 * beyond `Store`. Each account's log is numbered by its own contiguous sequence (1, 2, 3, … with
 * no holes, SPEC STORE-20), so a node that hears of seq n from another knows exactly what it
 * misses; `StoredDoc.lastLogId` is that sequence.
 */
import type { AccountId } from '@badgesync/shared';
import type { DocReplacement, StoredDoc } from './document-log.js';
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

/** What a batch committed (SPEC STORE-20, STORE-27). */
export interface CommitReport {
  /** The seq given to each of the batch's updates, in order. */
  readonly seqs: readonly CommittedSeq[];
  /**
   * [STORE-27] Accounts whose counts entry was left out: it named a `heldThrough` and the
   * account's log had moved past it (another node committed entries its replica lacks). The
   * caller catches up and writes them again (`exclusive`).
   */
  readonly staleCounts: readonly AccountId[];
}

/** The log of an account after a replica's seq, read under the account's lock (STORE-26). */
export interface ExclusiveTail extends LogSince {
  /** The account's newest seq before this write: once `updates` are applied, the replica holds the whole log. */
  readonly lastSeq: number;
}

/** What `exclusive`'s work writes: one account's batch, and the answer it makes for its caller. */
export interface ExclusiveWrite<T> {
  /** Updates, counts, bindings and idempotency answers of the locked account only; no push writes. */
  readonly batch: WriteBatch;
  readonly answer: T;
}

/** How `exclusive` finds the caller's replica and its idempotency key. */
export interface ExclusiveRequest {
  /** The seq through which the caller's replica holds the whole log, read once the lock is held. */
  readonly heldThrough: () => number;
  /** [STORE-28] A key whose answer, when stored at or after `notBefore`, is answered instead of running the work. */
  readonly idempotency?: { readonly key: string; readonly notBefore: number };
  /**
   * [STORE-42] The lease of the server client ID the work writes under: checked (and its row
   * locked) in the transaction before the work runs; no longer the holder's, the call rejects
   * with ServerClientLeaseLost and writes nothing.
   */
  readonly serverClient?: ServerClientLease;
}

/** What `migrateDoc` read, and whether it replaced it. */
export interface MigratedDoc {
  readonly stored: StoredDoc;
  readonly replaced: boolean;
}

/** [STORE-40] A server client ID of one account, leased to one node under a token of its own. */
export interface ServerClientLease {
  readonly account: AccountId;
  readonly clientId: number;
  /** The token of this take: a later take of the same ID by anyone has another. */
  readonly lease: string;
}

export type ExclusiveResult<T> =
  | { readonly kind: 'written'; readonly answer: T; readonly seqs: readonly CommittedSeq[] }
  | { readonly kind: 'stored'; readonly response: string };

export interface ClusterStore extends Store {
  /**
   * [STORE-20] commit(), answering the seq given to each of `batch.updates`, in order: per
   * account contiguous, in the order the commits took the account's lock.
   */
  commitWithSeqs(batch: WriteBatch, holdMs?: number): Promise<readonly CommittedSeq[]>;
  /**
   * [STORE-20, STORE-27] commit(), answering the seqs and the accounts whose counts were left
   * out because their `heldThrough` was behind the log.
   */
  commitReporting(batch: WriteBatch, holdMs?: number): Promise<CommitReport>;
  /**
   * [STORE-26, STORE-28] One transaction holding the account's row lock: answers the stored
   * answer of `request.idempotency` when there is one (nothing written); otherwise reads the
   * log after `request.heldThrough()`, hands it to `work` (synchronous: it applies the tail to
   * the caller's replica and makes its write from a replica that is the whole log), appends
   * and writes what `work` answers, and commits. Rejects, nothing written, when a statement
   * fails; when `work` had run, the caller's replica is then ahead of the log and must be
   * dropped. Never retried once `work` ran.
   */
  exclusive<T>(
    account: AccountId,
    request: ExclusiveRequest,
    work: (tail: ExclusiveTail) => ExclusiveWrite<T>,
  ): Promise<ExclusiveResult<T>>;
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
  /**
   * [STORE-35] A peek, not a claim: up to `limit` pending (not parked) entries by when they may
   * be claimed, earliest first (ties by token). Each answers that time as its `dueAt`: its due
   * time, or the end of a claim on it when later (lapsed or not; `node`'s own claims too, which
   * it cannot re-take either). `now`: the caller's clock; claimed entries are looked for among
   * those due by then.
   */
  peekPushes(node: string, now: number, limit: number): Promise<OutboxEntry[]>;
  /**
   * [STORE-36] Clears the claims `node` holds on the entries of `tokens` (claimed, not sent):
   * any node may claim them at once. Answers how many were released.
   */
  releasePushes(node: string, tokens: readonly string[]): Promise<number>;
  /**
   * [STORE-34] A draining node's hand-over: clears every claim `node` holds, and makes each
   * waiting (not parked) entry of `tokens` due at `now` at the latest, unclaimed: another
   * node claims them at once. Answers how many entries changed.
   */
  handOverPushes(node: string, tokens: readonly string[], now: number): Promise<number>;
  /**
   * [STORE-40] Leases to `node` for `leaseMs` (the database's clock) a server client ID of the
   * account that no live lease holds and no device is bound to: the lowest free one drawn
   * before, else the first of `draws` nobody holds or is bound to (a new one). Rows other nodes
   * are taking or fencing meanwhile are skipped, never waited for: two nodes never hold one ID.
   * Rejects when every draw is taken (retry with others).
   */
  takeServerClient(
    account: AccountId,
    node: string,
    leaseMs: number,
    draws: readonly number[],
  ): Promise<ServerClientLease>;
  /**
   * [STORE-41] Extends by `leaseMs` each of `leases` that `node` still holds (a lapsed one
   * nobody took included); answers the tokens extended. Not ordered after the node's other
   * calls (a renewal does not wait behind commits).
   */
  renewServerClients(node: string, leases: readonly string[], leaseMs: number): Promise<Set<string>>;
  /** [STORE-41] Frees the ID for any node at once, if the lease is still the holder's; answers whether it was. */
  releaseServerClient(lease: ServerClientLease): Promise<boolean>;
  /**
   * [STORE-43] One transaction holding the account's row lock: reads the stored document (as
   * loadDoc), hands it to `convert` (synchronous) and, when that answers a replacement of
   * exactly what it read, writes it as replaceDoc does. Two nodes migrating one v1 document at
   * once so migrate it once: the second reads the first one's v2 document. Never run again
   * once `convert` ran.
   */
  migrateDoc(account: AccountId, convert: (stored: StoredDoc) => DocReplacement | null): Promise<MigratedDoc>;
  /** Whether the database answers now (for /readyz); never rejects. */
  ping(): Promise<boolean>;
}
