/**
 * [STORE-23] The order a PgStore's calls take effect in: the order they were called, as with
 * the embedded stores, whose calls run on the caller's turn.
 *
 * - A write (commit, compact, putDevice, setMeta, …) starts once every call made before it
 *   settled, reads included: writes run one at a time, in call order (so one node's batches
 *   append to an account's log in the order it committed them), and a read called before a
 *   write never sees it.
 * - A read starts once every write called before it settled, so it sees them (STORE-18: a read
 *   called after commit() sees the batch, even before the commit resolved). Reads called
 *   between the same two writes run together, on as many connections as the pool gives.
 *
 * A call that fails does not stop the ones after it: each waits for the earlier ones to
 * settle, not to succeed.
 */
export class CallOrder {
  /** The last write called, settled or not (never rejects). */
  #lastWrite: Promise<void> = Promise.resolve();
  /** Reads called since the last write and not settled yet (never reject). */
  #reads = new Set<Promise<void>>();

  /** Runs `work` once the writes called before it settled. */
  read<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lastWrite.then(work);
    const done = settled(run);
    const reads = this.#reads;
    reads.add(done);
    // Dropped once settled, so a long run of reads without a write keeps no list.
    void done.then(() => reads.delete(done));
    return run;
  }

  /** Runs `work` once every call made before it settled. */
  write<T>(work: () => Promise<T>): Promise<T> {
    const before = Promise.all([this.#lastWrite, ...this.#reads]);
    const run = before.then(work);
    this.#lastWrite = settled(run);
    this.#reads = new Set();
    return run;
  }

  /** Settles once every call made so far settled. */
  idle(): Promise<void> {
    return Promise.all([this.#lastWrite, ...this.#reads]).then(() => undefined);
  }
}

/** `promise`, settling when it does, never rejecting (its rejection is its caller's to see). */
function settled(promise: Promise<unknown>): Promise<void> {
  return promise.then(
    () => undefined,
    () => undefined,
  );
}
