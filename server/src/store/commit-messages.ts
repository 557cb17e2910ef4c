import type { WriteBatch } from './write-batch.js';

/**
 * What the event loop sends the commit thread (SPEC STORE-17). A batch travels as structured
 * clone: plain strings and numbers, and the update bytes, which the sender hands over
 * (transfers) instead of copying when it owns their whole buffer.
 */
export type CommitRequest =
  | {
      readonly kind: 'commit';
      /** Answered in this id's reply. */
      readonly id: number;
      /** The SQLite file. */
      readonly path: string;
      readonly batch: WriteBatch;
      /** Test hook (SPEC OPS-5): held this long before the transaction starts; 0 in production. */
      readonly holdMs: number;
    }
  | { readonly kind: 'close'; readonly path: string };

/** The commit thread's answer to one batch: durable (error null) or refused, nothing written. */
export interface CommitReply {
  readonly id: number;
  readonly error: { readonly name: string; readonly message: string; readonly code: string | null } | null;
}
