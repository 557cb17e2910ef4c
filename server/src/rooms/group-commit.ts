import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Metrics } from '../metrics.js';
import type { PushWrite, Store, WriteBatch } from '../store/store.js';

/** Counts to store: everything, or only the `changed` threads and the badge. */
export interface CountsWrite {
  readonly counts: AccountCounts;
  readonly changed?: readonly string[];
  /** Cluster mode: the seq through which the replica they derive from holds the log (SPEC STORE-27). */
  readonly heldThrough?: number;
}

/**
 * [STORE-49] How a small batch waits for company when the one before was handed over moments
 * ago. A commit costs far more CPU than the update in it (two threads, the transaction, the
 * fsync and the wake-ups around it): at a low steady rate nearly every update paid one of its
 * own. A batch is handed over no sooner than `ms` after the previous one unless it holds
 * `updates` or more, so a server sees at most 1000/`ms` small commits a second; 2 ms is well
 * under a device's network round trip, and a batch after a quiet spell goes at once. A batch
 * that big goes at once: at rates that fill it, batches already grow while one is in flight.
 */
export const COMMIT_GATHER = { ms: 2, updates: 16 } as const;

/** A gathering window (STORE-49); `{ ms: 0 }` hands every batch over at the next setImmediate. */
export interface CommitGather {
  readonly ms: number;
  readonly updates: number;
}

const NO_GATHER: CommitGather = { ms: 0, updates: 0 };

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends ReadonlyArray<infer U> ? U[] : T[K] };

/**
 * Group commit (SPEC STORE-17): everything written during one turn of the event
 * loop — device updates, server writes, counts, client bindings, idempotency answers, push
 * state — is handed to the store as one batch at the next setImmediate, written in one
 * transaction off the event loop (Store.commit, a promise), and only once it is durable do the
 * callbacks that relay, answer or push run. At most one batch is in flight: what arrives
 * meanwhile gathers into the next one, so batches grow when the disk is slow instead of the
 * loop waiting for it. One fsync per batch instead of one per update.
 */
export class GroupCommit {
  #batch = GroupCommit.#empty();
  #counts = new Map<AccountId, () => CountsWrite | null>();
  #callbacks: Array<() => void> = [];
  #scheduled: NodeJS.Immediate | null = null;
  /** [STORE-49] The hand-over waiting for the gathering window, when one does. */
  #gatherTimer: NodeJS.Timeout | null = null;
  /** When the last batch was handed over (performance.now()); -Infinity: never. */
  #handedOverAt = Number.NEGATIVE_INFINITY;
  /** The batch (or the work between batches) being written, and the callbacks that wait for it. */
  #inFlight: { readonly callbacks: Array<() => void>; done: Promise<void> } | null = null;
  /** Work waiting to run between two batches (between()), in order. */
  #between: Array<() => Promise<void>> = [];
  #closed = false;
  #failed = false;
  /** How many batches were handed over: the number of the one gathering now. */
  #handedOver = 0;

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
    /** [STORE-49] The server passes COMMIT_GATHER; none by default (tests drive turns by hand). */
    private readonly gather: CommitGather = NO_GATHER,
  ) {}

  static #empty(): Mutable<WriteBatch> & { push: PushWrite[] } {
    return { updates: [], counts: [], bindings: [], idempotency: [], push: [] };
  }

  /** Something added is not durable yet. */
  get pending(): boolean {
    return this.#scheduled !== null || this.#gatherTimer !== null || this.#inFlight !== null || this.#gathering;
  }

  /**
   * The number of the batch gathering now: the same while what is added joins it, another once
   * it is handed over to the store. Callbacks added while something is gathering run after
   * that batch, so a caller that adds something and then a callback can add one per batch
   * instead of one per addition (SPEC SYNC-19).
   */
  get gathering(): number {
    return this.#handedOver;
  }

  /** Something was added since the batch in flight was handed over. */
  get #gathering(): boolean {
    const b = this.#batch;
    return b.updates.length + b.bindings.length + b.idempotency.length + b.push.length + this.#counts.size > 0;
  }

  addUpdate(account: AccountId, update: Uint8Array): void {
    this.#batch.updates.push({ account, update });
    this.#schedule();
    // [STORE-49] Big enough: it waits no longer for company.
    if (this.#gatherTimer !== null && this.#batch.updates.length >= this.gather.updates) {
      clearTimeout(this.#gatherTimer);
      this.#gatherTimer = null;
      this.#scheduled = setImmediate(() => this.#flush());
    }
  }

  addBinding(account: AccountId, clientId: number, device: DeviceId): void {
    this.#batch.bindings.push({ account, clientId, device });
    this.#schedule();
  }

  addIdempotency(account: AccountId, key: string, response: string, at: number): void {
    this.#batch.idempotency.push({ account, key, response, at });
    this.#schedule();
  }

  /** [STORE-17] A push-state write, in the same transaction as the rest of the turn. */
  addPushWrite(write: PushWrite): void {
    this.#batch.push.push(write);
    this.#schedule();
  }

  /**
   * The account's counts changed: store them as `read()` answers when the batch is handed
   * over — all of them, or (with `changed`) only the threads that changed (SPEC STORE-15);
   * null: none (the stored counts stay).
   */
  markCounts(account: AccountId, read: () => CountsWrite | null): void {
    this.#counts.set(account, read);
    this.#schedule();
  }

  /**
   * [SYNC-17] Runs `work` (a store write outside the batches: a compaction) while no batch is
   * in flight; what gathers meanwhile waits for it. On a store that runs calls side by side
   * (PostgreSQL), a later batch could otherwise land first — and a compaction through "every
   * entry so far" would drop an update its snapshot lacks. Resolves or rejects as `work` does;
   * a rejection is not fatal (a refused compaction leaves the log whole).
   */
  between<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('group commit is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#between.push(async () => {
        try {
          resolve(await work());
        } catch (err) {
          reject(err);
        }
      });
      if (this.#inFlight === null && this.#scheduled === null && this.#gatherTimer === null) this.#next();
    });
  }

  /** Runs `callback` once everything added so far is on disk. */
  afterCommit(callback: () => void): void {
    if (this.#scheduled !== null || this.#gatherTimer !== null || this.#gathering) this.#callbacks.push(callback);
    else if (this.#inFlight !== null) this.#inFlight.callbacks.push(callback);
    else callback();
  }

  /** Resolves once everything added so far is on disk. */
  flushed(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  /** Writes what is pending now and waits for it (shutdown). Later additions are refused. */
  async close(): Promise<void> {
    if (this.#scheduled !== null || this.#gatherTimer !== null) {
      if (this.#scheduled !== null) clearImmediate(this.#scheduled);
      if (this.#gatherTimer !== null) clearTimeout(this.#gatherTimer);
      this.#scheduled = null;
      this.#gatherTimer = null;
      if (this.#inFlight === null) this.#flush();
    }
    this.#closed = true;
    // Settles whether the batch was written or failed (a failed one runs no callback).
    while (this.#inFlight !== null) await this.#inFlight.done;
  }

  #schedule(): void {
    if (this.#closed) throw new Error('group commit is closed');
    if (this.#scheduled === null && this.#gatherTimer === null && this.#inFlight === null) this.#handOverSoon();
  }

  /**
   * Hands the gathering batch over at the next setImmediate, or [STORE-49] once the gathering
   * window since the last hand-over has passed when the batch is still small.
   */
  #handOverSoon(): void {
    const wait = this.#handedOverAt + this.gather.ms - performance.now();
    if (wait <= 0 || this.#batch.updates.length >= this.gather.updates) {
      this.#scheduled = setImmediate(() => this.#flush());
      return;
    }
    this.#gatherTimer = setTimeout(() => {
      this.#gatherTimer = null;
      this.#flush();
    }, wait);
  }

  /** Nothing in flight: starts the work waiting between batches first, else the next batch. */
  #next(): void {
    const work = this.#between.shift();
    if (work === undefined) {
      if (this.#gatherTimer !== null || this.#scheduled !== null) return;
      if (this.#gathering || this.#callbacks.length > 0) {
        // Closing: written now, so close() waits for it rather than for a window.
        if (this.gather.ms > 0 && !this.#closed) this.#handOverSoon();
        else this.#flush();
      }
      return;
    }
    const inFlight = { callbacks: [] as Array<() => void>, done: Promise.resolve() };
    this.#inFlight = inFlight;
    // `work` settles its caller's promise and never rejects itself.
    inFlight.done = work().then(() => {
      this.#inFlight = null;
      this.#next();
      for (const callback of inFlight.callbacks) this.#run(callback);
    });
  }

  #run(callback: () => void): void {
    try {
      callback();
    } catch (err) {
      this.onCallbackError(err);
    }
  }

  #flush(): void {
    this.#scheduled = null;
    if (this.#gatherTimer !== null) {
      clearTimeout(this.#gatherTimer);
      this.#gatherTimer = null;
    }
    if (this.#failed || this.#inFlight !== null) return;
    if (this.#between.length > 0) {
      this.#next();
      return;
    }
    const batch = this.#batch;
    for (const [account, read] of this.#counts) {
      const counts = read();
      if (counts !== null) batch.counts.push({ account, ...counts });
    }
    const callbacks = this.#callbacks;
    this.#handedOver++;
    this.#handedOverAt = performance.now();
    this.#batch = GroupCommit.#empty();
    this.#counts = new Map();
    this.#callbacks = [];
    const inFlight = { callbacks, done: Promise.resolve() };
    this.#inFlight = inFlight;
    const stop = this.metrics.storeCommitSeconds.startTimer();
    const durable = () => {
      stop();
      this.metrics.storeBatchUpdates.observe(batch.updates.length);
      this.#inFlight = null;
      // What gathered meanwhile goes now: the next batch is handed over before these
      // callbacks run, so it is written while they relay.
      this.#next();
      for (const callback of inFlight.callbacks) this.#run(callback);
    };
    const failed = (err: unknown) => {
      this.#failed = true;
      this.#inFlight = null;
      this.onFatal(err);
    };
    let written: Promise<void>;
    try {
      written = this.store.commit(batch, this.holdMs);
    } catch (err) {
      // A store that throws instead of rejecting: the same failure.
      failed(err);
      return;
    }
    inFlight.done = written.then(durable, failed);
  }
}
