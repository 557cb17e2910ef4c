/**
 * Which seqs of one account's log this node has applied (SPEC CLUSTER-3..CLUSTER-5): a pure
 * class, fed the seqs of the updates it applied (its own commits, bus messages, repairs) and
 * the clock, answering the contiguous watermark, the holes above it, and whether the account
 * must be repaired with `loadLogSince(watermark)`.
 *
 * The database numbers an account's updates 1, 2, 3, … without holes, so a seq missing below
 * one already applied is an update this node has not seen yet: still on its way (two nodes
 * publish in the order their commits return, not in seq order) or lost (the subscription
 * dropped, a node died between commit and publish). A hole is given `HOLE_GRACE_MS` to fill
 * before it is repaired.
 */

/**
 * 2 s: two nodes committing to one account publish within milliseconds of each other, so a
 * hole that lasts seconds is a lost message, not a reordered one; and a lost read marker
 * reaches the other node's devices within a few seconds, below what a person notices across
 * two devices.
 */
export const HOLE_GRACE_MS = 2_000;

/**
 * 10,000 seqs above a hole: beyond this many updates waiting for one missing seq the account
 * is repaired at once (the repair answers them all), so a flood during a long hole cannot
 * grow the node's memory without bound.
 */
export const MAX_PENDING_SEQS = 10_000;

export interface SeqHole {
  /** First missing seq. */
  readonly from: number;
  /** Last missing seq (inclusive). */
  readonly to: number;
}

export type RecordResult = 'applied' | 'duplicate';

export class SeqTracker {
  #watermark: number;
  /** Applied seqs above the watermark, with when each was applied. */
  readonly #pending = new Map<number, number>();
  /** The newest seq the database reported (reconciliation); 0 before any. */
  #knownNewest = 0;

  /** `watermark`: the seq of the last update in the state the node loaded (0 for an empty log). */
  constructor(watermark: number, options: { readonly graceMs?: number; readonly maxPending?: number } = {}) {
    if (!Number.isSafeInteger(watermark) || watermark < 0) throw new RangeError(`bad watermark ${watermark}`);
    this.#watermark = watermark;
    this.graceMs = options.graceMs ?? HOLE_GRACE_MS;
    this.maxPending = options.maxPending ?? MAX_PENDING_SEQS;
  }

  readonly graceMs: number;
  readonly maxPending: number;

  /** Every seq up to this one has been applied. */
  get watermark(): number {
    return this.#watermark;
  }

  /** The newest seq applied or known to exist. */
  get newest(): number {
    let newest = Math.max(this.#watermark, this.#knownNewest);
    for (const seq of this.#pending.keys()) newest = Math.max(newest, seq);
    return newest;
  }

  /**
   * The update `seq` was applied at `now`. A seq at or below the watermark, or applied
   * before, is a duplicate (its update may be skipped: applying it again changes nothing).
   */
  record(seq: number, now: number): RecordResult {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`bad seq ${seq}`);
    if (seq <= this.#watermark || this.#pending.has(seq)) return 'duplicate';
    if (seq === this.#watermark + 1) {
      this.#watermark = seq;
      this.#absorb();
    } else {
      this.#pending.set(seq, now);
    }
    return 'applied';
  }

  /**
   * A repair applied every update up to `lastSeq` (`loadLogSince`'s answer): the watermark
   * moves there, and the seqs applied above it that now follow on are absorbed.
   */
  repaired(lastSeq: number): void {
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0) throw new RangeError(`bad seq ${lastSeq}`);
    if (lastSeq > this.#watermark) this.#watermark = lastSeq;
    for (const seq of this.#pending.keys()) if (seq <= this.#watermark) this.#pending.delete(seq);
    this.#absorb();
  }

  /** Reconciliation read the account's newest seq in the database. */
  noteNewest(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`bad seq ${seq}`);
    if (seq > this.#knownNewest) this.#knownNewest = seq;
  }

  /** The missing ranges between the watermark and the newest seq applied or known. */
  holes(): SeqHole[] {
    const holes: SeqHole[] = [];
    let next = this.#watermark + 1;
    for (const seq of [...this.#pending.keys()].sort((a, b) => a - b)) {
      if (seq > next) holes.push({ from: next, to: seq - 1 });
      next = seq + 1;
    }
    if (this.#knownNewest >= next) holes.push({ from: next, to: this.#knownNewest });
    return holes;
  }

  /**
   * When the lowest hole opened (the earliest time a seq above it was applied), or undefined
   * without a hole of applied seqs.
   */
  holeSince(): number | undefined {
    let since: number | undefined;
    for (const at of this.#pending.values()) if (since === undefined || at < since) since = at;
    return since;
  }

  /**
   * Load the log after the watermark now: a hole has stayed open for the grace, too many
   * seqs wait above one, or the database holds a seq this node has not applied (a lost LAST
   * message leaves no hole, only reconciliation sees it).
   */
  needsRepair(now: number): boolean {
    if (this.#knownNewest > this.newestApplied()) return true;
    if (this.#pending.size === 0) return false;
    if (this.#pending.size >= this.maxPending) return true;
    return now - (this.holeSince() as number) >= this.graceMs;
  }

  /** The newest seq this node applied. */
  newestApplied(): number {
    let newest = this.#watermark;
    for (const seq of this.#pending.keys()) newest = Math.max(newest, seq);
    return newest;
  }

  #absorb(): void {
    while (this.#pending.delete(this.#watermark + 1)) this.#watermark += 1;
  }
}
