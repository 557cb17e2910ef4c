import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Metrics } from '../metrics.js';
import type { Store, WriteBatch } from '../store/store.js';
import { blockFor } from '../test-hooks.js';

/** Counts to store: everything, or only the `changed` threads and the badge. */
export interface CountsWrite {
  readonly counts: AccountCounts;
  readonly changed?: readonly string[];
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends ReadonlyArray<infer U> ? U[] : T[K] };

/**
 * Group commit (SPEC STORE-10): everything written during one turn of the event loop —
 * device updates, server writes, counts, client bindings, idempotency answers — goes to
 * disk in one transaction at the next setImmediate, and only then do the callbacks that
 * relay, answer or push run. One fsync per turn instead of one per update.
 */
export class GroupCommit {
  #batch = GroupCommit.#empty();
  #counts = new Map<AccountId, () => CountsWrite>();
  #callbacks: Array<() => void> = [];
  #work: Array<() => void> = [];
  #scheduled: NodeJS.Immediate | null = null;
  #closed = false;

  constructor(
    private readonly store: Store,
    private readonly metrics: Metrics,
    /** A failed commit leaves memory ahead of disk: the process must stop (SPEC STORE-11). */
    private readonly onFatal: (err: unknown) => void,
    /**
     * [EDGE-1] A callback (a relay, an answer, a push wake) that throws: reported here, and
     * the callbacks after it still run, or their requests would wait forever. By default it
     * is rethrown on its own, as an uncaught exception.
     */
    private readonly onCallbackError: (err: unknown) => void = (err) =>
      queueMicrotask(() => {
        throw err;
      }),
    /**
     * Test hook (SPEC OPS-5): each commit is held this long before it writes, so a relay or
     * an answer sent before its commit is lost by a `kill -9` every time, not by luck. 0 in
     * production.
     */
    private readonly holdMs = 0,
  ) {}

  static #empty(): Mutable<WriteBatch> {
    return { updates: [], counts: [], bindings: [], idempotency: [] };
  }

  get pending(): boolean {
    return this.#scheduled !== null;
  }

  addUpdate(account: AccountId, update: Uint8Array): void {
    this.#batch.updates.push({ account, update });
    this.#schedule();
  }

  addBinding(account: AccountId, clientId: number, device: DeviceId): void {
    this.#batch.bindings.push({ account, clientId, device });
    this.#schedule();
  }

  addIdempotency(account: AccountId, key: string, response: string, at: number): void {
    this.#batch.idempotency.push({ account, key, response, at });
    this.#schedule();
  }

  /** Store calls of other parts (push state) to run in the same transaction. */
  addWork(work: () => void): void {
    this.#work.push(work);
    this.#schedule();
  }

  /**
   * The account's counts changed: store them as `read()` answers at commit time — all of
   * them, or (with `changed`) only the threads that changed (SPEC STORE-15).
   */
  markCounts(account: AccountId, read: () => CountsWrite): void {
    this.#counts.set(account, read);
    this.#schedule();
  }

  /** Runs `callback` once everything added so far is on disk. */
  afterCommit(callback: () => void): void {
    if (this.#scheduled === null) {
      callback();
      return;
    }
    this.#callbacks.push(callback);
  }

  /** Resolves once everything added so far is on disk. */
  flushed(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  /** Commits now (shutdown). Later additions are refused. */
  close(): void {
    if (this.#scheduled !== null) {
      clearImmediate(this.#scheduled);
      this.#flush();
    }
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#closed) throw new Error('group commit is closed');
    if (this.#scheduled === null) this.#scheduled = setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = null;
    const batch = this.#batch;
    for (const [account, read] of this.#counts) batch.counts.push({ account, ...read() });
    const callbacks = this.#callbacks;
    const work = this.#work;
    this.#batch = GroupCommit.#empty();
    this.#counts = new Map();
    this.#callbacks = [];
    this.#work = [];
    blockFor(this.holdMs);
    const stop = this.metrics.storeCommitSeconds.startTimer();
    try {
      if (work.length === 0) this.store.commit(batch);
      else {
        this.store.transaction(() => {
          this.store.commit(batch);
          for (const write of work) write();
        });
      }
    } catch (err) {
      this.onFatal(err);
      return;
    }
    stop();
    this.metrics.storeBatchUpdates.observe(batch.updates.length);
    for (const callback of callbacks) {
      try {
        callback();
      } catch (err) {
        this.onCallbackError(err);
      }
    }
  }
}
