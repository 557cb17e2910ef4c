import type { AccountId, DeviceId } from '@badgesync/shared';

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
  /** [STORE-4] Yjs client ID → device, for one account. */
  loadBindings(account: AccountId): Map<number, DeviceId>;
}
