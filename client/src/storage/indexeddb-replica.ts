import * as idb from 'lib0/indexeddb';
import { IndexeddbPersistence } from 'y-indexeddb';
import type * as Y from 'yjs';
import type { ReplicaMeta, StoredReplica } from './storage.js';
import { parseMeta } from './storage.js';

/** y-indexeddb's object stores: the document's updates, and its key-value store. */
const UPDATES_STORE = 'updates';
const CUSTOM_STORE = 'custom';
const META_KEY = 'badgesync-meta';

/**
 * One account's replica in IndexedDB: y-indexeddb stores the document (and compacts it);
 * the metadata lives in its key-value store, written in a transaction that also spans the
 * updates store, so IndexedDB runs it after every update write queued before it.
 */
export class IndexedDbReplica implements StoredReplica {
  #meta: ReplicaMeta | null;

  private constructor(
    private readonly persistence: IndexeddbPersistence,
    meta: ReplicaMeta | null,
  ) {
    this.#meta = meta;
  }

  /** Opens the database `name`, loads it into `doc`, and follows `doc` from then on. */
  static async open(name: string, doc: Y.Doc): Promise<IndexedDbReplica> {
    const persistence = new IndexeddbPersistence(name, doc);
    await persistence.whenSynced;
    const meta = parseMeta(await persistence.get(META_KEY));
    return new IndexedDbReplica(persistence, meta);
  }

  get meta(): ReplicaMeta | null {
    return this.#meta;
  }

  async saveMeta(meta: ReplicaMeta): Promise<void> {
    this.#meta = meta;
    const db = this.persistence.db;
    if (db === null) throw new Error('the replica is closed');
    const [, custom] = idb.transact(db, [UPDATES_STORE, CUSTOM_STORE]);
    if (custom === undefined) throw new Error(`no ${CUSTOM_STORE} store`);
    await idb.put(custom, JSON.stringify(meta), META_KEY);
  }

  /**
   * Lets go of the document. y-indexeddb compacts on a timer by reading the stored updates and
   * then encoding the whole document; a compaction already reading when the replica closes would
   * encode (and store) writes made after the close. So the timer is stopped first, and a
   * read-write transaction on the updates store is awaited: IndexedDB runs it after any
   * compaction already queued there, so that compaction ends before the close returns.
   */
  async close(): Promise<void> {
    const persistence = this.persistence;
    if (persistence._storeTimeoutId !== null) clearTimeout(persistence._storeTimeoutId);
    persistence._storeTimeoutId = null;
    const db = persistence.db;
    if (db !== null) {
      const [updates] = idb.transact(db, [UPDATES_STORE]);
      if (updates !== undefined) await idb.count(updates);
    }
    await persistence.destroy();
  }
}
