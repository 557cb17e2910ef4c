import type { AccountId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { SeqTracker } from './seq-tracker.js';

/** What a room is to its cluster sync: where the shared log's updates go. */
export interface SyncedRoom {
  readonly account: AccountId;
  /** The seq of the last log entry the room's load replayed. */
  readonly loadedLogId: number;
  /** Applies updates committed by other nodes (not judged, not persisted, relayed). */
  applyRemote(updates: readonly Uint8Array[]): void;
  /** [CLUSTER-41] Hands the whole counts to the next batch, naming the watermark (stale counts' repair). */
  recount(): void;
}

/** The reads of the shared log a repair makes (ClusterStore). */
export interface LogReader {
  loadLogSince(account: AccountId, afterSeq: number): Promise<{ updates: Uint8Array[]; lastSeq: number }>;
}

export interface RoomSyncDeps {
  readonly log: Logger;
  readonly store: LogReader;
  /** Whether the room is still the account's loaded room (an unloaded one stops syncing). */
  readonly current: () => boolean;
  /** How long a hole may fill itself (default: SeqTracker's HOLE_GRACE_MS). */
  readonly holeGraceMs?: number;
}

/**
 * One loaded account's place in the shared log (docs/CLUSTER.md, SPEC CLUSTER-14, CLUSTER-15):
 * a SeqTracker of the seqs its replica holds (its load's, this node's own commits, other
 * nodes' updates, repairs). Another node's update is applied only in seq order: one that
 * arrives above a hole waits for it, and a hole that stays past the grace (or too many waiting
 * updates, or a newer seq the log reported) is filled from the log (`loadLogSince`). So the
 * replica is always the log's prefix up to the watermark plus this node's own writes, and Yjs
 * never holds another node's update pending for a missing one.
 */
export class RoomSync {
  readonly #tracker: SeqTracker;
  /** Other nodes' updates above a hole, by seq. */
  readonly #waiting = new Map<number, Uint8Array>();
  #holeTimer: NodeJS.Timeout | null = null;
  #repairing: Promise<void> | null = null;
  #repairAgain = false;
  #closed = false;

  constructor(
    readonly room: SyncedRoom,
    private readonly deps: RoomSyncDeps,
  ) {
    this.#tracker = new SeqTracker(
      room.loadedLogId,
      deps.holeGraceMs === undefined ? {} : { graceMs: deps.holeGraceMs },
    );
  }

  /** Every seq up to this one is in the replica. */
  get watermark(): number {
    return this.#tracker.watermark;
  }

  /** A seq is missing below one the replica holds or the log has, or an update waits for one. */
  get hasHole(): boolean {
    return this.#waiting.size > 0 || this.#tracker.holes().length > 0;
  }

  /** This node committed an update of the account under `seq`: the replica holds it. */
  committed(seq: number): void {
    this.#tracker.record(seq, Date.now());
    this.#advance();
  }

  /** Another node's update, from the bus. */
  received(seq: number, update: Uint8Array): void {
    if (this.#closed || seq <= this.#tracker.watermark || this.#waiting.has(seq)) return;
    this.#waiting.set(seq, update);
    this.#advance();
  }

  /** Reconciliation: the log's newest seq of the account. Repairs at once when the replica is behind it. */
  logHas(seq: number): Promise<void> {
    this.#tracker.noteNewest(seq);
    if (!this.#tracker.needsRepair(Date.now())) return Promise.resolve();
    this.deps.log.info(
      { account: this.room.account, watermark: this.#tracker.watermark, newest: seq },
      'cluster reconcile: replica behind the log, repairing',
    );
    return this.repair('reconcile');
  }

  /**
   * [CLUSTER-40] The log after the watermark, read under the account's lock (exclusive's
   * tail), applied now: the replica holds every seq through `tail.lastSeq`.
   */
  caughtUp(tail: { readonly updates: readonly Uint8Array[]; readonly lastSeq: number }): void {
    if (this.#closed) return;
    const from = this.#tracker.watermark;
    this.room.applyRemote(tail.updates);
    this.#tracker.repaired(tail.lastSeq);
    if (tail.lastSeq > from) {
      this.deps.log.debug(
        { account: this.room.account, from: from + 1, to: tail.lastSeq, via: 'exclusive' },
        'cluster applied',
      );
    }
    this.#advance();
  }

  /**
   * Reads every entry after the watermark from the log and applies them. One at a time per
   * room: a call while one runs makes it read once more after it, so nothing committed
   * meanwhile is missed.
   */
  repair(why = 'repair'): Promise<void> {
    if (this.#repairing !== null) {
      this.#repairAgain = true;
      return this.#repairing;
    }
    this.#repairing = this.#repairLoop(why).finally(() => {
      this.#repairing = null;
    });
    return this.#repairing;
  }

  async #repairLoop(why: string): Promise<void> {
    do {
      this.#repairAgain = false;
      if (this.#closed || !this.deps.current()) return;
      const from = this.#tracker.watermark;
      const { updates, lastSeq } = await this.deps.store.loadLogSince(this.room.account, from);
      if (this.#closed || !this.deps.current()) return;
      // Updates already applied meanwhile change nothing when applied again (Yjs).
      this.room.applyRemote(updates);
      this.#tracker.repaired(lastSeq);
      // Trace (docs/CLUSTER.md "Tracing"): which seqs reached this replica from the log, and why.
      if (lastSeq > from)
        this.deps.log.debug({ account: this.room.account, from: from + 1, to: lastSeq, via: why }, 'cluster applied');
      this.#advance();
    } while (this.#repairAgain);
  }

  /** Applies the waiting updates that now follow on, in seq order; arms or disarms the hole timer. */
  #advance(): void {
    const ready: Uint8Array[] = [];
    for (;;) {
      for (const seq of this.#waiting.keys()) if (seq <= this.#tracker.watermark) this.#waiting.delete(seq);
      const next = this.#tracker.watermark + 1;
      const update = this.#waiting.get(next);
      if (update === undefined) break;
      this.#waiting.delete(next);
      ready.push(update);
      // Moves the watermark over `next` and over this node's own seqs right after it.
      this.#tracker.record(next, Date.now());
    }
    if (ready.length > 0) {
      this.room.applyRemote(ready);
      const to = this.#tracker.watermark;
      this.deps.log.debug(
        { account: this.room.account, from: to - ready.length + 1, to, via: 'bus' },
        'cluster applied',
      );
    }
    if (!this.hasHole) {
      if (this.#holeTimer !== null) clearTimeout(this.#holeTimer);
      this.#holeTimer = null;
      return;
    }
    if (this.#waiting.size >= this.#tracker.maxPending) {
      // A flood above one hole: repaired at once rather than held in memory.
      this.#repairNow('flood');
      return;
    }
    if (this.#holeTimer === null && !this.#closed) {
      this.#holeTimer = setTimeout(() => {
        this.#holeTimer = null;
        if (!this.hasHole) return;
        this.deps.log.info(
          { account: this.room.account, watermark: this.#tracker.watermark, holes: this.#tracker.holes() },
          'cluster hole not filled within the grace; repairing from the log',
        );
        this.#repairNow('hole');
      }, this.#tracker.graceMs);
      this.#holeTimer.unref();
    }
  }

  #repairNow(why: string): void {
    this.repair(why).catch((err: unknown) =>
      this.deps.log.error({ err, account: this.room.account }, 'cluster gap repair failed; retried on reconcile'),
    );
  }

  close(): void {
    this.#closed = true;
    if (this.#holeTimer !== null) clearTimeout(this.#holeTimer);
    this.#holeTimer = null;
    this.#waiting.clear();
  }
}
