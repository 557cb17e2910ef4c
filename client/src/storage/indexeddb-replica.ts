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
  #persistence: IndexeddbPersistence;
  readonly #release: (() => void) | null;

  private constructor(persistence: IndexeddbPersistence, meta: ReplicaMeta | null, release: (() => void) | null) {
    this.#persistence = persistence;
    this.#meta = meta;
    this.#release = release;
  }

  /**
   * Opens the database `name`, loads it into `doc`, and follows `doc` from then on. `release`
   * lets go of the replica's Web Lock (null: this instance does not hold it).
   */
  static async open(name: string, doc: Y.Doc, release: (() => void) | null): Promise<IndexedDbReplica> {
    try {
      const persistence = new IndexeddbPersistence(name, doc);
      await persistence.whenSynced;
      const meta = parseMeta(await persistence.get(META_KEY));
      return new IndexedDbReplica(persistence, meta, release);
    } catch (err) {
      release?.();
      throw err;
    }
  }

  get meta(): ReplicaMeta | null {
    return this.#meta;
  }

  /** Whether this tab holds the replica's Web Lock. */
  get exclusive(): boolean {
    return this.#release !== null;
  }

  async saveMeta(meta: ReplicaMeta): Promise<void> {
    this.#meta = meta;
    const db = this.#persistence.db;
    if (db === null) throw new Error('the replica is closed');
    const [, custom] = idb.transact(db, [UPDATES_STORE, CUSTOM_STORE]);
    if (custom === undefined) throw new Error(`no ${CUSTOM_STORE} store`);
    await idb.put(custom, JSON.stringify(meta), META_KEY);
  }

  /**
   * Empties the updates store (in a transaction IndexedDB runs after every update write queued
   * before it), lets go of the old document, and loads the (empty) store into `doc`. The
   * database is cleared rather than deleted: a deletion waits for every other tab to close it.
   */
  async reset(doc: Y.Doc): Promise<void> {
    const old = this.#persistence;
    const db = old.db;
    if (db === null) throw new Error('the replica is closed');
    await this.#stopCompaction();
    const [updates] = idb.transact(db, [UPDATES_STORE]);
    if (updates === undefined) throw new Error(`no ${UPDATES_STORE} store`);
    await idb.rtop(updates.clear());
    await old.destroy();
    const persistence = new IndexeddbPersistence(old.name, doc);
    this.#persistence = persistence;
    await persistence.whenSynced;
    if (this.#meta !== null) await this.saveMeta(this.#meta);
  }

  /**
   * Lets go of the document. y-indexeddb compacts on a timer by reading the stored updates and
   * then encoding the whole document; a compaction already reading when the replica closes would
   * encode (and store) writes made after the close. So the timer is stopped first, and a
   * read-write transaction on the updates store is awaited: IndexedDB runs it after any
   * compaction already queued there, so that compaction ends before the close returns.
   */
  async close(): Promise<void> {
    await this.#stopCompaction();
    await this.#persistence.destroy();
    this.#release?.();
  }

  async #stopCompaction(): Promise<void> {
    const persistence = this.#persistence;
    if (persistence._storeTimeoutId !== null) clearTimeout(persistence._storeTimeoutId);
    persistence._storeTimeoutId = null;
    const db = persistence.db;
    if (db !== null) {
      const [updates] = idb.transact(db, [UPDATES_STORE]);
      if (updates !== undefined) await idb.count(updates);
    }
  }
}
