import * as Y from 'yjs';
import type { ReplicaMeta, StoredReplica } from './storage.js';

/** What MemoryStorage keeps of one account. */
export interface MemoryRecord {
  updates: Uint8Array[];
  meta: ReplicaMeta | null;
}

/** A replica kept in a MemoryRecord; survives a restart of the SDK, not of the process. */
export class MemoryReplica implements StoredReplica {
  readonly #record: MemoryRecord;
  readonly #doc: Y.Doc;

  constructor(record: MemoryRecord, doc: Y.Doc) {
    this.#record = record;
    this.#doc = doc;
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

  async close(): Promise<void> {
    this.#doc.off('update', this.#onUpdate);
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin !== this) this.#record.updates.push(update);
  };
}
