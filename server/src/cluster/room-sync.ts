import type { AccountId } from '@badgesync/shared';
import type { Logger } from 'pino';

/**
 * How long a hole in an account's seqs may fill itself before the log is read: the update of
 * the missing seq may be on its way still (another node commits, then publishes; two nodes'
 * messages can cross). Short enough that a device waits well under a second for an update
 * whose message was lost; long enough that crossing messages cost no database read.
 */
export const HOLE_GRACE_MS = 250;

/** What a room is to its cluster sync: where the shared log's updates go. */
export interface SyncedRoom {
  readonly account: AccountId;
  /** The seq of the last log entry the room's load replayed. */
  readonly loadedLogId: number;
  /** Applies updates committed by other nodes (not judged, not persisted, relayed). */
  applyRemote(updates: readonly Uint8Array[]): void;
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
  readonly holeGraceMs?: number;
}

/**
 * One loaded account's place in the shared log (docs/CLUSTER.md, SPEC CLUSTER-10..): which
 * seqs its replica holds, as a contiguous watermark and the seqs held above it (this node's
 * own commits, which can land above a seq another node took a moment earlier). Another node's
 * update is applied only in seq order: one that arrives above a hole waits for the hole, and a
 * hole that stays past the grace is filled from the log (`loadLogSince`). So the replica is
 * always the log's prefix up to the watermark plus this node's own writes.
 */
export class RoomSync {
  #watermark: number;
  /** Seqs above the watermark the replica holds (own commits). */
  readonly #held = new Set<number>();
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
    this.#watermark = room.loadedLogId;
  }

  /** Every seq up to this one is in the replica. */
  get watermark(): number {
    return this.#watermark;
  }

  /** A seq is missing below one the replica holds, or an update waits for one. */
  get hasHole(): boolean {
    return this.#held.size > 0 || this.#waiting.size > 0;
  }

  /** This node committed an update of the account under `seq`: the replica holds it. */
  committed(seq: number): void {
    if (seq <= this.#watermark) return;
    this.#held.add(seq);
    this.#advance();
  }

  /** Another node's update, from the bus. */
  received(seq: number, update: Uint8Array): void {
    if (this.#closed || seq <= this.#watermark || this.#held.has(seq) || this.#waiting.has(seq)) return;
    this.#waiting.set(seq, update);
    this.#advance();
  }

  /**
   * Reads every entry after the watermark from the log and applies them. One at a time per
   * room: a call while one runs makes it read once more after it, so nothing committed
   * meanwhile is missed.
   */
  repair(): Promise<void> {
    if (this.#repairing !== null) {
      this.#repairAgain = true;
      return this.#repairing;
    }
    this.#repairing = this.#repairLoop().finally(() => {
      this.#repairing = null;
    });
    return this.#repairing;
  }

  async #repairLoop(): Promise<void> {
    do {
      this.#repairAgain = false;
      if (this.#closed || !this.deps.current()) return;
      const from = this.#watermark;
      const { updates, lastSeq } = await this.deps.store.loadLogSince(this.room.account, from);
      if (this.#closed || !this.deps.current()) return;
      // Updates already applied meanwhile change nothing when applied again (Yjs).
      this.room.applyRemote(updates);
      if (lastSeq > this.#watermark) this.#watermark = lastSeq;
      this.#advance();
    } while (this.#repairAgain);
  }

  /** Moves the watermark over every seq held or waiting next to it; arms or disarms the hole timer. */
  #advance(): void {
    for (const seq of this.#held) if (seq <= this.#watermark) this.#held.delete(seq);
    for (const seq of this.#waiting.keys()) if (seq <= this.#watermark) this.#waiting.delete(seq);
    const ready: Uint8Array[] = [];
    for (;;) {
      const next = this.#watermark + 1;
      if (this.#held.delete(next)) {
        this.#watermark = next;
        continue;
      }
      const update = this.#waiting.get(next);
      if (update === undefined) break;
      this.#waiting.delete(next);
      ready.push(update);
      this.#watermark = next;
    }
    if (ready.length > 0) this.room.applyRemote(ready);
    if (!this.hasHole) {
      if (this.#holeTimer !== null) clearTimeout(this.#holeTimer);
      this.#holeTimer = null;
    } else if (this.#holeTimer === null && !this.#closed) {
      this.#holeTimer = setTimeout(() => {
        this.#holeTimer = null;
        if (!this.hasHole) return;
        this.repair().catch((err: unknown) =>
          this.deps.log.error({ err, account: this.room.account }, 'cluster gap repair failed; retried on reconcile'),
        );
      }, this.deps.holeGraceMs ?? HOLE_GRACE_MS);
      this.#holeTimer.unref();
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#holeTimer !== null) clearTimeout(this.#holeTimer);
    this.#holeTimer = null;
    this.#waiting.clear();
  }
}
