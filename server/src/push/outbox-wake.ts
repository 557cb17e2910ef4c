import type { Logger } from 'pino';
import { guarded } from '../guard.js';
import type { PushWrites } from './ports.js';

/** Node's largest timer delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface OutboxWakeDeps {
  /** Push's writes: a wake reads the outbox once those made before it are durable. */
  readonly writes: PushWrites;
  readonly log: Logger;
  readonly now: () => number;
  /** When the earliest entry the scheduler may take next is due (null: none, or no room to send). */
  readonly nextDueAt: () => Promise<number | null>;
  /** The timer fired: take the entries due and send them. */
  readonly run: () => void;
  /** Keeps `work` for the scheduler's close() to wait on, logging its failure. */
  readonly track: (where: string, work: Promise<void>) => void;
}

/**
 * [PUSH-24] The one timer of the push scheduler, armed for the earliest due outbox entry. A
 * wake (after every outbox write, send and settle) reads the outbox once the writes made before
 * it are durable: one read at a time, with one more when another wake came meanwhile (its read
 * may have missed that wake's writes), so every wake is served and no two reads race to arm
 * the timer. Under a steady stream of changes a group commit always has a batch in flight
 * carrying a later wake: a wake that gave way to later ones would never run.
 */
export class OutboxWake {
  #timer: NodeJS.Timeout | null = null;
  /** A wake is reading the outbox. */
  #reading = false;
  /** A wake came while one was reading: read again once it is done. */
  #again = false;
  #closed = false;

  constructor(private readonly deps: OutboxWakeDeps) {}

  /** Arms the timer for the earliest due entry, once the outbox writes so far are durable. */
  wake(): void {
    if (this.#closed) return;
    this.deps.writes.afterWrites(guarded(this.deps.log, 'push wake', () => this.#afterWrites()));
  }

  /** Disarms the timer; later wakes do nothing. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #afterWrites(): void {
    if (this.#closed) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = true;
    this.deps.track(
      'push wake',
      this.#read().finally(() => {
        this.#reading = false;
        if (this.#again) {
          this.#again = false;
          this.#afterWrites();
        }
      }),
    );
  }

  async #read(): Promise<void> {
    const next = await this.deps.nextDueAt();
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (next === null) return;
    // Node fires a timer longer than 2^31−1 ms at once; a farther entry is looked at again then.
    const fire = guarded(this.deps.log, 'push timer', () => {
      this.#timer = null;
      this.deps.run();
    });
    this.#timer = setTimeout(fire, Math.min(MAX_TIMER_MS, Math.max(0, next - this.deps.now())));
    this.#timer.unref();
  }
}
