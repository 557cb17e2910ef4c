import * as Y from 'yjs';
import type { ReplicaMeta, StoredReplica } from './storage.js';

/** What MemoryStorage keeps of one account. */
export interface MemoryRecord {
  updates: Uint8Array[];
  meta: ReplicaMeta | null;
  /** Whether a replica opened on this record holds its lock (SPEC SDK-12). */
  locked: boolean;
}

/** A replica kept in a MemoryRecord; survives a restart of the SDK, not of the process. */
export class MemoryReplica implements StoredReplica {
  readonly #record: MemoryRecord;
  readonly exclusive: boolean;
  #doc: Y.Doc;
  #closed = false;

  constructor(record: MemoryRecord, doc: Y.Doc) {
    this.#record = record;
    this.#doc = doc;
    this.exclusive = !record.locked;
    if (this.exclusive) record.locked = true;
    if (record.updates.length > 0) {
      const merged = Y.mergeUpdates(record.updates);
      record.updates = [merged];
      Y.applyUpdate(doc, merged, this);
    }
    doc.on('update', this.#onUpdate);
  }

  get meta(): ReplicaMeta | null {
    return this.#record.meta;
  }

  async saveMeta(meta: ReplicaMeta): Promise<void> {
    this.#record.meta = meta;
  }

  async reset(doc: Y.Doc): Promise<void> {
    if (this.#closed) throw new Error('the replica is closed');
    this.#doc.off('update', this.#onUpdate);
    this.#record.updates = [];
    this.#doc = doc;
    doc.on('update', this.#onUpdate);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#doc.off('update', this.#onUpdate);
    if (this.exclusive) this.#record.locked = false;
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin !== this) this.#record.updates.push(update);
  };
}
