/**
 * The persistence seam (SPEC SDK-7): one stored replica per account, holding the document's
 * updates and a little metadata. IndexedDbStorage (browsers), FileStorage (Node) and
 * MemoryStorage implement it; the contract tests run against each.
 */
import type * as Y from 'yjs';
import { type Intent, parseIntent } from '../intents.js';

/** What the SDK keeps beside the document. */
export interface ReplicaMeta {
  /** The device that wrote this replica's markers. */
  readonly deviceId: string;
  /**
   * Whether this replica ever completed a sync with the server. Written only after the
   * synced state is stored, so a crash can only make it false, never true too early.
   */
  readonly syncedOnce: boolean;
  /** Intents made before the first sync, applied through the planners once it completes. */
  readonly pending: readonly Intent[];
}

/** Where a stored replica reports a failure it cannot throw (a write inside a Yjs event). */
export type StorageErrorHandler = (error: Error) => void;

/** One account's stored replica, following its document. */
export interface StoredReplica {
  /** The metadata as loaded, or as last saved. */
  readonly meta: ReplicaMeta | null;
  /** Saves the metadata after every update stored so far. */
  saveMeta(meta: ReplicaMeta): Promise<void>;
  /** Stops following the document and releases the storage (pending writes complete first). */
  close(): Promise<void>;
}

/** A place to keep replicas. */
export interface BadgeSyncStorage {
  /**
   * Opens the replica of `account`: applies the stored updates to `doc` (an empty document),
   * then stores every later update of it until `close()`.
   */
  open(account: string, doc: Y.Doc, onError: StorageErrorHandler): Promise<StoredReplica>;
}

/** Metadata read back from storage (JSON), or null when it is missing or not valid. */
export function parseMeta(value: unknown): ReplicaMeta | null {
  if (typeof value === 'string') {
    try {
      return parseMeta(JSON.parse(value));
    } catch {
      return null;
    }
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  if (typeof v.deviceId !== 'string' || typeof v.syncedOnce !== 'boolean' || !Array.isArray(v.pending)) return null;
  const pending: Intent[] = [];
  for (const item of v.pending) {
    const intent = parseIntent(item);
    if (intent !== null) pending.push(intent);
  }
  return { deviceId: v.deviceId, syncedOnce: v.syncedOnce, pending };
}
