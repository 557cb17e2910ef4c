/**
 * The store contract (SPEC STORE-1..STORE-9, STORE-13, STORE-14, STORE-16..STORE-18): everything the server keeps across restarts.
 * Implemented by SqliteStore (the embedded default) and MemoryStore (tests, and the
 * reference the contract suite holds SQLite to). Every method is synchronous but commitAsync:
 * the group commit's batches go to a thread of their own (docs/ARCHITECTURE.md), the rest is
 * rare enough to pay its fsync on the event loop.
 */
import type { CountsStore } from './counts-store.js';
import type { DeviceRegistry } from './device-registry.js';
import type { DocumentLog } from './document-log.js';
import type { IdempotencyStore } from './idempotency-store.js';
import type { MetaStore } from './meta-store.js';
import type { PushOutbox } from './push-outbox.js';
import type { WriteBatch } from './write-batch.js';

export type { CountsStore } from './counts-store.js';
export type { DevicePatch, DeviceRegistry, Registration, TokenRefusal, WebPushKeys } from './device-registry.js';
export type { DocReplacement, DocumentLog, StoredDoc } from './document-log.js';
export type { IdempotencyStore } from './idempotency-store.js';
export type { MetaStore } from './meta-store.js';
export type { OutboxEntry, PushOutbox } from './push-outbox.js';
export type { PushWrite } from './push-write.js';
export type { WriteBatch } from './write-batch.js';

/**
 * The whole store: one interface per concern, one transaction over all of them, and the
 * group commit's batch that writes to several at once.
 */
export interface Store extends DocumentLog, CountsStore, IdempotencyStore, DeviceRegistry, PushOutbox, MetaStore {
  /** [STORE-1] Applies a whole batch in one transaction; durable when it returns. */
  commit(batch: WriteBatch): void;
  /**
   * [STORE-17] Applies a whole batch in one transaction, off the caller's thread where the
   * store can: the promise resolves once the batch is durable and rejects (nothing written)
   * when the thread fails it. Until then every read of this store already sees the batch
   * (STORE-18). Null: written and durable already (a store without a commit thread, as
   * commit()). A batch that fails its checks throws at once, as commit() does, in both cases.
   * `holdMs` (test hook, SPEC OPS-5) holds the write that long first.
   */
  commitAsync(batch: WriteBatch, holdMs?: number): Promise<void> | null;
  /**
   * [STORE-13] Runs `work` (calls of this store) in one transaction, durable when it
   * returns; calls that open their own transaction inside it become part of it.
   * [STORE-13] A throw inside `work` undoes every call made in it and reaches the caller; a
   * nested transaction is a savepoint (its throw undoes its own calls only).
   */
  transaction(work: () => void): void;
  /** Closes the store: every later call throws. */
  close(): void;
}
