import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';

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

/** A whole stored document replaced by another (SPEC STORE-16): what replaceDoc writes. */
export interface DocReplacement {
  /** The new document, as one snapshot (a Yjs update, V1 encoding). */
  readonly snapshot: Uint8Array;
  /** The last log entry the replaced document held (StoredDoc.lastLogId): it and every earlier one go. */
  readonly throughLogId: number;
  /** Client IDs first used by the new document (the server's, which wrote it); bindings already stored stay. */
  readonly bindings: ReadonlyArray<{ readonly clientId: number; readonly device: DeviceId }>;
  /** The counts derived from the new document: they replace everything stored for the account. */
  readonly counts: AccountCounts;
}

/** Each account's document (SPEC STORE-2..STORE-4): its Yjs update log, snapshot and client bindings. */
export interface DocumentLog {
  /** [STORE-2] Snapshot and log of one account; an unknown account has no updates. */
  loadDoc(account: AccountId): StoredDoc;
  /**
   * [STORE-3] Replaces the snapshot and every log entry up to `throughLogId` with
   * `snapshot`, atomically; entries appended after throughLogId stay. A throughLogId past
   * the last log ID issued means every entry so far (the snapshot records that ID, so later
   * entries still load). An older throughLogId than the stored snapshot's changes nothing.
   */
  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number): void;
  /**
   * [STORE-16] Replaces the account's stored document — its snapshot and every log entry up to
   * `throughLogId` — by `replacement.snapshot`, binds its client IDs and stores its counts, all
   * in one transaction: a reader sees the old document or the new one, never a mix. Unlike
   * compact(), the snapshot need not contain what it replaces (a contract-v1 document becomes a
   * v2 one). A throughLogId older than the stored snapshot's is refused (RangeError, nothing
   * written): entries the caller never saw would be lost.
   */
  replaceDoc(account: AccountId, replacement: DocReplacement): void;
  /** [STORE-4] Yjs client ID → device, for one account. */
  loadBindings(account: AccountId): Map<number, DeviceId>;
}
