/**
 * The one way v2 writes an entry (SPEC DOC-13): in one transaction, delete every live entry of
 * the key in the writer's own array (a duplicate a concurrent session of the same device left
 * included), then push `{ key, val }`. A writer only ever appends to and deletes from its own
 * array, so its deleted entries sit next to each other and Yjs merges them into runs.
 *
 * Unlike y-utility's YKeyValue it never deletes on observe and never wraps another writer's
 * array: YKeyValue keeps the rightmost of two duplicates, which may be the smaller marker of
 * two concurrent sessions, a lost read the server refuses.
 */
import type * as Y from 'yjs';
import type { Entry } from './document.js';

export class KeyValueArray {
  readonly #array: Y.Array<Entry>;

  constructor(
    readonly doc: Y.Doc,
    readonly root: string,
  ) {
    this.#array = doc.getArray<Entry>(root);
  }

  /**
   * Replaces every live entry of `key` by `{ key, val }`. Joins the caller's transaction when
   * there is one. O(live entries of this array): the array is walked once to find the key.
   */
  set(key: string, val: number): void {
    this.doc.transact(() => {
      const indices: number[] = [];
      let index = 0;
      for (const entry of this.#array) {
        if (entry.key === key) indices.push(index);
        index++;
      }
      // From the right, so each delete leaves the earlier indices where they were.
      for (let i = indices.length - 1; i >= 0; i--) this.#array.delete(indices[i] as number, 1);
      this.#array.push([{ key, val }]);
    });
  }
}
