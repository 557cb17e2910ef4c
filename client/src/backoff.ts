import { Timing } from './timing.js';

/** Options of a Backoff. */
export interface BackoffOptions {
  /** Ceiling of the first delay, ms. */
  readonly baseMs?: number;
  /** Largest ceiling, ms. */
  readonly capMs?: number;
  /** A uniform random number in [0, 1); injectable for tests. */
  readonly random?: () => number;
}

/**
 * Doubling the ceiling past 2^30 × base only overflows into Infinity; the cap is reached
 * long before that.
 */
const MAX_EXPONENT = 30;

/**
 * Capped exponential backoff with full jitter: the n-th delay is uniform in
 * [0, min(cap, base × 2^n)). Full jitter spreads reconnecting devices evenly, so a server
 * restart is not answered by every device at the same instant.
 */
export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? Timing.backoffBaseMs;
    this.#capMs = options.capMs ?? Timing.backoffCapMs;
    this.#random = options.random ?? Math.random;
    if (!(this.#baseMs > 0) || !(this.#capMs >= this.#baseMs)) {
      throw new RangeError(`backoff needs 0 < base ≤ cap, got base ${this.#baseMs}, cap ${this.#capMs}`);
    }
  }

  /** Retries since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The ceiling the next delay is drawn under. */
  get ceilingMs(): number {
    return Math.min(this.#capMs, this.#baseMs * 2 ** this.#attempt);
  }

  /** The next delay, ms; each call doubles the ceiling up to the cap. */
  next(): number {
    const delay = Math.floor(this.#random() * this.ceilingMs);
    this.#attempt = Math.min(this.#attempt + 1, MAX_EXPONENT);
    return delay;
  }

  /** Back to the first delay (after a stable connection, or when the network returns). */
  reset(): void {
    this.#attempt = 0;
  }
}
