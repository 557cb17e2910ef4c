import type * as Y from 'yjs';
import { IndexedDbReplica } from './indexeddb-replica.js';
import type { BadgeSyncStorage, StorageErrorHandler, StoredReplica } from './storage.js';
import { holdWebLock } from './web-lock.js';

/**
 * Browser persistence: one IndexedDB database per account, named `prefix:account`
 * (y-indexeddb's format, so its tools can read it). The tab that opens a replica first holds
 * its Web Lock (`badgesync-replica:prefix:account`) until it closes it, and reuses its client
 * ID; another tab of the same profile works beside it with a fresh client ID (SPEC SDK-12).
 */
export class IndexedDbStorage implements BadgeSyncStorage {
  constructor(readonly prefix = 'badgesync') {}

  /** The database name of an account's replica. */
  nameOf(account: string): string {
    return `${this.prefix}:${account}`;
  }

  /** y-indexeddb writes in the background and reports no errors, so `_onError` is never called. */
  async open(account: string, doc: Y.Doc, _onError?: StorageErrorHandler): Promise<StoredReplica> {
    const name = this.nameOf(account);
    const release = await holdWebLock(`badgesync-replica:${name}`);
    return IndexedDbReplica.open(name, doc, release);
  }
}
