import type * as Y from 'yjs';
import { IndexedDbReplica } from './indexeddb-replica.js';
import type { BadgeSyncStorage, StorageErrorHandler, StoredReplica } from './storage.js';

/**
 * Browser persistence: one IndexedDB database per account, named `prefix:account`
 * (y-indexeddb's format, so its tools can read it).
 */
export class IndexedDbStorage implements BadgeSyncStorage {
  constructor(readonly prefix = 'badgesync') {}

  /** The database name of an account's replica. */
  nameOf(account: string): string {
    return `${this.prefix}:${account}`;
  }

  /** y-indexeddb writes in the background and reports no errors, so `_onError` is never called. */
  open(account: string, doc: Y.Doc, _onError?: StorageErrorHandler): Promise<StoredReplica> {
    return IndexedDbReplica.open(this.nameOf(account), doc);
  }
}
