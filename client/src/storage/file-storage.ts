import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type * as Y from 'yjs';
import { FileLock } from './file-lock.js';
import { FileReplica } from './file-replica.js';
import type { BadgeSyncStorage, StorageErrorHandler, StoredReplica } from './storage.js';
import { fileNameFor } from './update-log.js';

/** Options of FileStorage. */
export interface FileStorageOptions {
  /**
   * Rewrite an account's file as one snapshot once it holds this many records. 500, as
   * y-indexeddb trims: a replica loads from a few hundred small records in milliseconds,
   * and a snapshot of a large account is not rewritten more than once per 500 reads.
   */
  readonly compactEvery?: number;
}

const DEFAULT_COMPACT_EVERY = 500;

/**
 * Node persistence: one append-only file per account in `folder` (created when missing),
 * and beside it a lock file (`<file>.lock`, the holder's pid) while a replica is open. The
 * first instance to open an account's replica holds it (reuses its client ID, compacts); a
 * second one, in this process or another, works beside it with a fresh client ID.
 */
export class FileStorage implements BadgeSyncStorage {
  readonly #compactEvery: number;

  constructor(
    readonly folder: string,
    options: FileStorageOptions = {},
  ) {
    this.#compactEvery = options.compactEvery ?? DEFAULT_COMPACT_EVERY;
    if (!Number.isSafeInteger(this.#compactEvery) || this.#compactEvery < 2) {
      throw new RangeError(`compactEvery must be an integer ≥ 2, got ${this.#compactEvery}`);
    }
  }

  /** The file of an account's replica. */
  pathOf(account: string): string {
    return path.join(this.folder, fileNameFor(account));
  }

  async open(account: string, doc: Y.Doc, onError: StorageErrorHandler): Promise<StoredReplica> {
    mkdirSync(this.folder, { recursive: true });
    const file = this.pathOf(account);
    const lock = FileLock.tryAcquire(`${file}.lock`);
    try {
      return new FileReplica(file, doc, this.#compactEvery, onError, lock);
    } catch (err) {
      lock?.release();
      throw err;
    }
  }
}
