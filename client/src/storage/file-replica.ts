import { appendFileSync, existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import * as Y from 'yjs';
import type { FileLock } from './file-lock.js';
import type { ReplicaMeta, StorageErrorHandler, StoredReplica } from './storage.js';
import { parseMeta } from './storage.js';
import { decodeRecords, encodeRecord, RecordKind } from './update-log.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One account's replica in one append-only file: every document update is appended as it
 * happens, metadata too, and when enough records pile up the file is rewritten as one
 * snapshot plus the metadata (written to a temp file, then renamed over: atomic).
 *
 * Writes are synchronous on purpose: they are a few hundred bytes each, they keep the
 * file in exactly the order of the document's updates, and "synced once" can never reach
 * the disk before the state it vouches for. No fsync: a power cut may lose the last
 * writes, which the next sync brings back; it cannot reorder them.
 */
export class FileReplica implements StoredReplica {
  #meta: ReplicaMeta | null = null;
  #records = 0;
  #closed = false;
  #doc: Y.Doc;
  readonly #lock: FileLock | null;

  constructor(
    readonly path: string,
    doc: Y.Doc,
    private readonly compactEvery: number,
    private readonly onError: StorageErrorHandler,
    lock: FileLock | null,
  ) {
    this.#doc = doc;
    this.#lock = lock;
    try {
      this.#load();
    } catch (err) {
      // A file that does not decode is no replica: set it aside and start empty. The SDK then
      // treats this as a fresh install (no writes before the first sync), which is safe.
      renameSync(path, `${path}.corrupt-${Date.now()}`);
      this.#meta = null;
      this.#records = 0;
      onError(new Error(`the stored replica ${path} was unreadable and was set aside: ${(err as Error).message}`));
    }
    if (this.#records > compactEvery && this.exclusive) this.#compact();
    doc.on('update', this.#onUpdate);
  }

  /** Whether this instance holds the replica's lock file. */
  get exclusive(): boolean {
    return this.#lock !== null;
  }

  /** Reads the file into the (empty) document. */
  #load(): void {
    const path = this.path;
    const updates: Uint8Array[] = [];
    if (existsSync(path)) {
      const bytes = readFileSync(path);
      const { records, validLength } = decodeRecords(bytes);
      if (validLength < bytes.length) truncateSync(path, validLength);
      for (const record of records) {
        if (record.kind === RecordKind.update) updates.push(record.payload);
        else this.#meta = parseMeta(decoder.decode(record.payload)) ?? this.#meta;
      }
      this.#records = records.length;
    }
    if (updates.length === 0) return;
    // Applied to a scratch document first: a corrupt update must not half-fill the real one.
    const merged = Y.mergeUpdates(updates);
    Y.applyUpdate(new Y.Doc(), merged);
    Y.applyUpdate(this.#doc, merged, this);
  }

  get meta(): ReplicaMeta | null {
    return this.#meta;
  }

  /** Records in the file (a snapshot counts as one). */
  get records(): number {
    return this.#records;
  }

  async saveMeta(meta: ReplicaMeta): Promise<void> {
    if (this.#closed) throw new Error('the replica is closed');
    this.#meta = meta;
    this.#append(encodeRecord(RecordKind.meta, encoder.encode(JSON.stringify(meta))));
  }

  async reset(doc: Y.Doc): Promise<void> {
    if (this.#closed) throw new Error('the replica is closed');
    this.#doc.off('update', this.#onUpdate);
    this.#doc = doc;
    this.#compact();
    doc.on('update', this.#onUpdate);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#doc.off('update', this.#onUpdate);
    this.#lock?.release();
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === this || this.#closed) return;
    try {
      this.#append(encodeRecord(RecordKind.update, update));
      if (this.#records >= this.compactEvery && this.exclusive) this.#compact();
    } catch (err) {
      this.onError(err as Error);
    }
  };

  #append(record: Uint8Array): void {
    appendFileSync(this.path, record);
    this.#records++;
  }

  /** Rewrites the file as one snapshot and the metadata; atomic through rename. */
  #compact(): void {
    const parts = [encodeRecord(RecordKind.update, Y.encodeStateAsUpdate(this.#doc))];
    if (this.#meta !== null) parts.push(encodeRecord(RecordKind.meta, encoder.encode(JSON.stringify(this.#meta))));
    const temp = `${this.path}.tmp`;
    writeFileSync(temp, Buffer.concat(parts));
    renameSync(temp, this.path);
    this.#records = parts.length;
  }
}
