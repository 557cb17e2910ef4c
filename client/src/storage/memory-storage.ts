import type * as Y from 'yjs';
import { type MemoryRecord, MemoryReplica } from './memory-replica.js';
import type { BadgeSyncStorage, StorageErrorHandler, StoredReplica } from './storage.js';

/**
 * Keeps replicas in memory: for tests, and for apps that want no persistence. The same
 * instance handed to a new BadgeSync acts like a restart on the same disk.
 */
export class MemoryStorage implements BadgeSyncStorage {
  readonly #records = new Map<string, MemoryRecord>();

  /** Memory cannot fail, so `_onError` is never called. */
  async open(account: string, doc: Y.Doc, _onError?: StorageErrorHandler): Promise<StoredReplica> {
    let record = this.#records.get(account);
    if (record === undefined) {
      record = { updates: [], meta: null, locked: false };
      this.#records.set(account, record);
    }
    return new MemoryReplica(record, doc);
  }

  /** Forgets an account's replica (a wiped app). */
  clear(account: string): void {
    this.#records.delete(account);
  }
}
