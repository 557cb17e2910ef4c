import type { PackedUpdates } from './commit-updates.js';
import type { WriteBatch } from './write-batch.js';

/**
 * What the event loop sends the commit thread (SPEC STORE-17). A batch travels as structured
 * clone (plain strings and numbers), but for its updates, which are packed into two buffers
 * handed over without a copy (SPEC STORE-31, commit-updates.ts).
 */
export type CommitRequest =
  /** Answered (by its id, no error) once the thread runs its code: it can take batches. */
  | { readonly kind: 'ping'; readonly id: number }
  | {
      readonly kind: 'commit';
      /** Answered in this id's reply. */
      readonly id: number;
      /** The SQLite file. */
      readonly path: string;
      /** The batch but its updates, which travel in `updates`. */
      readonly batch: Omit<WriteBatch, 'updates'>;
      readonly updates: PackedUpdates;
      /**
       * [STORE-18] Written to meta (COMMITTED_MARK_KEY) in the batch's transaction: the thread's
       * epoch (random per thread) and this id, so a reader can tell from the file alone which
       * batches it already holds.
       */
      readonly epoch: string;
      /** Test hook (SPEC OPS-5): held this long before the transaction starts; 0 in production. */
      readonly holdMs: number;
    }
  | { readonly kind: 'close'; readonly path: string };

/** The commit thread's answer to one batch: durable (error null) or refused, nothing written. */
export interface CommitReply {
  readonly id: number;
  readonly error: { readonly name: string; readonly message: string; readonly code: string | null } | null;
}

/** The meta key the commit thread records its last committed batch under ("<epoch>:<id>"). */
export const COMMITTED_MARK_KEY = 'commit-thread.committed';

/** The id of the last batch of `epoch` the file holds, read from the recorded mark; 0: none. */
export function committedId(mark: string | null, epoch: string): number {
  if (mark === null) return 0;
  const colon = mark.lastIndexOf(':');
  return mark.slice(0, colon) === epoch ? Number(mark.slice(colon + 1)) : 0;
}
