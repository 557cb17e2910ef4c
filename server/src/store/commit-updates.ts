import type { AccountId } from '@badgesync/shared';
import type { WriteBatch } from './write-batch.js';

/**
 * A batch's updates as they travel to the commit thread (SPEC STORE-31): every payload copied
 * into one buffer, each account named once. Posted as structured clone, N updates were N
 * objects, N account strings and N ArrayBuffers to serialize on the event loop and to create
 * again on the thread; packed, they are two buffers, handed over (transferred), not copied
 * again. Copied, never transferred as they are: an update is often a view into a buffer the
 * event loop still uses (the socket's frame, Node's pool, the in-flight overlay reads see).
 */
export interface PackedUpdates {
  /** Each update's payload, one after the other in batch order. */
  readonly bytes: Uint8Array;
  /** Per update, two numbers: its account's index in `accounts`, and where its payload ends in `bytes`. */
  readonly index: Uint32Array;
  /** Each account the updates name, once. */
  readonly accounts: readonly string[];
}

/** Packs `updates` into buffers of their own; `transfer` lists those buffers for postMessage. */
export function packUpdates(updates: WriteBatch['updates']): { packed: PackedUpdates; transfer: ArrayBuffer[] } {
  let total = 0;
  for (const { update } of updates) total += update.byteLength;
  const bytes = new Uint8Array(total);
  const index = new Uint32Array(2 * updates.length);
  const accounts: string[] = [];
  const accountIndex = new Map<string, number>();
  let end = 0;
  for (let i = 0; i < updates.length; i++) {
    const { account, update } = updates[i] as WriteBatch['updates'][number];
    let a = accountIndex.get(account);
    if (a === undefined) {
      a = accounts.length;
      accounts.push(account);
      accountIndex.set(account, a);
    }
    bytes.set(update, end);
    end += update.byteLength;
    index[2 * i] = a;
    index[2 * i + 1] = end;
  }
  return { packed: { bytes, index, accounts }, transfer: [bytes.buffer as ArrayBuffer, index.buffer as ArrayBuffer] };
}

/** The updates of `packed`, in order, each a view into its one buffer (no copy). */
export function unpackUpdates(packed: PackedUpdates): WriteBatch['updates'] {
  const { bytes, index, accounts } = packed;
  const updates: Array<{ account: AccountId; update: Uint8Array }> = new Array(index.length / 2);
  let start = 0;
  for (let i = 0; i < updates.length; i++) {
    const end = index[2 * i + 1] as number;
    updates[i] = { account: accounts[index[2 * i] as number] as AccountId, update: bytes.subarray(start, end) };
    start = end;
  }
  return updates;
}
