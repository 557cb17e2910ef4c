/**
 * The store contract (SPEC STORE-1..STORE-9, STORE-13, STORE-14, STORE-16..STORE-18): everything
 * the server keeps across restarts, in two forms.
 *
 * - `SyncStore`: every call answers at once (but commitAsync). Implemented by SqliteStore (the
 *   embedded default) and MemoryStore (tests, and the reference the contract suite holds the
 *   others to). The group commit's batches go to a thread of their own (docs/ARCHITECTURE.md).
 * - `Store`: the same calls, each answering through a promise — what the server uses, so a store
 *   across the network (PostgreSQL, the cluster mode) fits without the server blocking on it.
 *   `asyncStore()` (async-store.ts) gives a SyncStore this form.
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
export interface SyncStore extends DocumentLog, CountsStore, IdempotencyStore, DeviceRegistry, PushOutbox, MetaStore {
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

/** The calls of T, each answering through a promise (a field that is no call is dropped). */
export type Asynchronous<T> = {
  readonly [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K] extends (
    ...args: infer A
  ) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

/**
 * The store as the server uses it: every read and write answers through a promise, so a
 * store on another machine (PostgreSQL) serves the same server. A rejected promise is the
 * throw of the SyncStore form (a RangeError, a closed store, a refused batch).
 */
export interface Store extends Asynchronous<Omit<SyncStore, 'commit' | 'commitAsync' | 'transaction' | 'close'>> {
  /**
   * [STORE-1, STORE-17] Applies a whole batch in one transaction; resolves once it is
   * durable, rejects (nothing written) when it is refused or fails. Every read made after
   * the call already sees the batch (STORE-18). `holdMs` (test hook, SPEC OPS-5) holds the
   * write that long first.
   */
  commit(batch: WriteBatch, holdMs?: number): Promise<void>;
  /** Closes the store once writes in flight are durable: every later call rejects. */
  close(): Promise<void>;
}
