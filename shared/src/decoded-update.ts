/**
 * An incoming update decoded once (SPEC SYNC-15): the write rules, the budgets and the apply
 * (apply-checked.ts) all read the same structs and delete set, so the server decodes each
 * update once.
 */
import * as decoding from 'lib0/decoding';
import * as Y from 'yjs';

export type Struct = Y.Item | Y.GC | Y.Skip;
export type DeleteSet = ReturnType<typeof Y.createDeleteSet>;

/** An update as Y.decodeUpdate reads it, before any rule looked at it. */
export interface DecodedUpdate {
  /** The update as received (V1 encoding). */
  readonly bytes: Uint8Array;
  /**
   * Its structs in the order they are encoded: an item's parent is the root's name (a
   * string), an ID, or null, as Y.decodeUpdate reads them.
   */
  readonly structs: readonly Struct[];
  /** Its delete set as encoded (not merged: the number checks read it as it is). */
  readonly ds: DeleteSet;
  /** How many client blocks its header announces (the first number of a V1 update). */
  readonly blocks: number;
}

/** An update the write rules accepted: what the budgets and the apply read. */
export interface CheckedUpdate {
  readonly bytes: Uint8Array;
  readonly structs: readonly Struct[];
  /** The delete set, sorted and merged (Y.mergeDeleteSets): what the rules read. */
  readonly ds: DeleteSet;
  /** The delete set as encoded: what the apply deletes, range by range, as Yjs would. */
  readonly deletes: DeleteSet;
  /**
   * [SYNC-15] Applying it adds every struct it holds and deletes every id its delete set
   * names: no struct the server has already (not even in part), no Skip, no delete of what
   * the server deleted already. Its bytes are then exactly what it changes.
   */
  readonly whole: boolean;
}

/** Decodes a V1 update; throws (lib0's errors) when it is not decodable. */
export function decodeIncoming(bytes: Uint8Array): DecodedUpdate {
  const decoded = Y.decodeUpdate(bytes) as { structs: Struct[]; ds: DeleteSet };
  const blocks = decoding.readVarUint(decoding.createDecoder(bytes));
  return { bytes, structs: decoded.structs, ds: decoded.ds, blocks };
}
