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
  /**
   * The Yjs client ID this replica's writer uses (SPEC SDK-12). Saved by the instance that
   * holds the replica's lock when it opens the replica, before any write.
   */
  readonly clientId?: number;
  /**
   * The client's clock (Yjs state of `clientId`) when its session closed cleanly, after every
   * update was stored. Absent while a session uses the ID, and after a crash: then the server
   * may hold writes of that ID the replica lacks, and the next session takes a fresh ID.
   */
  readonly clientClock?: number;
}

/** Where a stored replica reports a failure it cannot throw (a write inside a Yjs event). */
export type StorageErrorHandler = (error: Error) => void;

/** One account's stored replica, following its document. */
export interface StoredReplica {
  /** The metadata as loaded, or as last saved. */
  readonly meta: ReplicaMeta | null;
  /**
   * Whether this instance holds the replica's exclusive lock (SPEC SDK-12): a Web Lock in
   * browsers, a lock file in Node, the storage object for MemoryStorage. Only the holder may
   * reuse the replica's client ID; another instance works with a fresh one.
   */
  readonly exclusive: boolean;
  /**
   * Drops every stored update and follows `doc` (an empty document) from now on, keeping the
   * metadata and the lock (SPEC SDK-11: a v1 replica, or the server's close 4410).
   */
  reset(doc: Y.Doc): Promise<void>;
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
  return {
    deviceId: v.deviceId,
    syncedOnce: v.syncedOnce,
    pending,
    ...(isClientNumber(v.clientId) ? { clientId: v.clientId } : {}),
    ...(isClientNumber(v.clientClock) ? { clientClock: v.clientClock } : {}),
  };
}

/** A Yjs client ID or clock as JSON keeps it: an unsigned 32-bit integer (IDs) or a safe integer (clocks). */
function isClientNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
