import type { AccountId } from '@badgesync/shared';
import { guarded } from '../guard.js';
import { AccountOverBudgetError, AccountRoom, type RoomDeps } from './account-room.js';

/**
 * How long an account with no connection and nothing pending stays loaded: long enough
 * that a phone reconnecting after a network switch finds it warm, short enough that a
 * million mostly-idle accounts cost no memory.
 */
export const IDLE_UNLOAD_MS = 60_000;
/** How often idle rooms are looked for; unloading is cheap, so a coarse sweep is enough. */
export const UNLOAD_SWEEP_MS = 15_000;
/**
 * Log entries after which a loaded account is compacted into one snapshot: loading 500
 * small updates costs about a millisecond; beyond that, snapshots keep loads and disk flat.
 */
export const COMPACT_AFTER_UPDATES = 500;

/**
 * Compactions per sweep: each is a snapshot encode and an fsync'd transaction (~0.5 ms), and
 * rooms written at one rate come due together — 1,000 at once stalled the loop 0.5 s. Capped,
 * a sweep costs at most ~15 ms; the rest wait for the next sweep, their logs a little longer.
 */
export const COMPACTIONS_PER_SWEEP = 25;

/** On unload, a log at least this long is folded into the snapshot; shorter logs load as fast. */
export const COMPACT_ON_UNLOAD = 20;

export class RoomCapacityError extends Error {}

/**
 * Loads account documents on first use, unloads idle ones, and holds at most
 * `maxLoaded` (SPEC SYNC-7). The store answers through promises, so a load takes turns:
 * [SYNC-16] every caller asking for one account while it loads shares that one load, and
 * the room is published (found by peek, by later acquires, by the sweep) only once its load
 * resolved. Loads in progress count against the cap.
 */
export class RoomManager {
  readonly #rooms = new Map<AccountId, AccountRoom>();
  /** Loads in progress, one per account, shared by every caller that asks meanwhile. */
  readonly #loading = new Map<AccountId, Promise<AccountRoom>>();
  /** Accounts whose last room was dropped with writes not yet on disk, until they are. */
  readonly #unsettled = new Set<AccountId>();
  /**
   * Rooms handed out this turn: their callers resume in microtasks, before they can hold the
   * room (join, hold) — nothing may evict them meanwhile. Cleared at the next macrotask.
   */
  readonly #handedOut = new Set<AccountRoom>();
  #clearHandedOut: NodeJS.Immediate | null = null;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(
    private readonly deps: RoomDeps,
    private readonly maxLoaded: number,
  ) {
    this.#timer = setInterval(
      guarded(deps.log, 'room sweep', () => this.sweep(Date.now())),
      UNLOAD_SWEEP_MS,
    );
    this.#timer.unref();
  }

  /** Rooms loaded (loads in progress not counted). */
  get size(): number {
    return this.#rooms.size;
  }

  /** The loaded room, if any. */
  peek(account: AccountId): AccountRoom | undefined {
    const room = this.#rooms.get(account);
    return room?.poisoned ? undefined : room;
  }

  /** Every loaded room that serves (cluster reconciliation, docs/CLUSTER.md). */
  loaded(): AccountRoom[] {
    return [...this.#rooms.values()].filter((room) => !room.poisoned);
  }

  /**
   * The account's room, loading it (and unloading an idle one when at the cap). Rejects with
   * RoomCapacityError when the cap is reached with none idle, or the account is over its
   * client-ID budget (BUDGET-5); with the store's failure when the load failed (a later
   * acquire loads again).
   */
  acquire(account: AccountId): Promise<AccountRoom> {
    let room = this.#rooms.get(account);
    if (room?.poisoned) {
      this.#unload(room, false);
      room = undefined;
    }
    if (room !== undefined) return Promise.resolve(this.#handOut(room));
    const loading = this.#loading.get(account);
    if (loading !== undefined) return loading;
    if (this.#closed) return Promise.reject(new Error('the rooms are closed'));
    if (this.#rooms.size + this.#loading.size >= this.maxLoaded && !this.#evictOne()) {
      return Promise.reject(new RoomCapacityError(`${this.#rooms.size} accounts loaded, none idle`));
    }
    const load = this.#load(account);
    this.#loading.set(account, load);
    return load;
  }

  async #load(account: AccountId): Promise<AccountRoom> {
    let room: AccountRoom;
    try {
      room = await AccountRoom.load(account, this.deps, { reuseServerClient: !this.#unsettled.has(account) });
    } catch (err) {
      if (err instanceof AccountOverBudgetError) throw new RoomCapacityError(err.message);
      throw err;
    } finally {
      // A failed load is forgotten: the next acquire loads again.
      this.#loading.delete(account);
    }
    if (this.#closed) {
      room.destroy();
      throw new Error('the rooms are closed');
    }
    this.#rooms.set(account, room);
    this.deps.metrics.loadedDocs.set(this.#rooms.size);
    this.deps.published?.(room);
    // [BUDGET-5] A long log is folded into a snapshot as it loads: the replay just paid is not
    // paid again by the next load, whether or not the account stays loaded long enough for a sweep.
    if (room.logCount >= COMPACT_AFTER_UPDATES) room.compact();
    return this.#handOut(room);
  }

  #handOut(room: AccountRoom): AccountRoom {
    this.#handedOut.add(room);
    this.#clearHandedOut ??= setImmediate(() => {
      this.#clearHandedOut = null;
      this.#handedOut.clear();
    });
    return room;
  }

  /** Unloads rooms idle for IDLE_UNLOAD_MS, and compacts busy rooms with long logs. */
  sweep(now: number): void {
    let compactions = 0;
    for (const room of [...this.#rooms.values()]) {
      if (room.poisoned) this.#unload(room, false);
      else if (this.#handedOut.has(room)) continue;
      else if (room.idle && now - room.lastActive >= IDLE_UNLOAD_MS) {
        // Unloading without compacting keeps the log: the next load replays it, no loss.
        const compact = room.logCount >= COMPACT_ON_UNLOAD && compactions < COMPACTIONS_PER_SWEEP;
        if (compact) compactions++;
        this.#unload(room, compact);
      } else if (room.logCount >= COMPACT_AFTER_UPDATES && compactions < COMPACTIONS_PER_SWEEP && room.compact()) {
        compactions++;
      }
    }
  }

  #evictOne(): boolean {
    let oldest: AccountRoom | undefined;
    for (const room of this.#rooms.values()) {
      if (this.#handedOut.has(room)) continue;
      if (room.idle && (oldest === undefined || room.lastActive < oldest.lastActive)) oldest = room;
    }
    if (oldest === undefined) return false;
    this.#unload(oldest, oldest.logCount >= COMPACT_ON_UNLOAD);
    return true;
  }

  #unload(room: AccountRoom, compact: boolean): void {
    if (!room.settled) {
      const account = room.account;
      this.#unsettled.add(account);
      this.deps.commit.afterCommit(() => this.#unsettled.delete(account));
    }
    // The snapshot is taken now; the store writes it between two batches (SYNC-17).
    if (compact && !room.poisoned) room.compact();
    room.destroy();
    this.#rooms.delete(room.account);
    this.#handedOut.delete(room);
    this.deps.metrics.loadedDocs.set(this.#rooms.size);
  }

  /** Unloads everything (shutdown, after the last commit); loads still in progress are dropped as they end. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#clearHandedOut !== null) clearImmediate(this.#clearHandedOut);
    // No compaction at shutdown: thousands of fsyncs would delay the exit; the logs load fine.
    for (const room of [...this.#rooms.values()]) this.#unload(room, false);
  }
}
