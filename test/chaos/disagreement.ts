/**
 * When a device's badge differs from the truth, and for how long (see README "Definitions").
 *
 * The runner calls `observe` whenever anything a device's shown badge or truth depends on
 * may have changed. From that stream this keeps, per device:
 *
 * - **stretches**: maximal periods in which shown ≠ truth (what a user sees, contiguous);
 * - **intervals**: one per disturbance. A disturbance is the moment the device becomes
 *   wrong, or the truth moves again while it is wrong. Its interval ends when the device
 *   shows a value the truth has held at some moment since the disturbance (it caught up
 *   with it, or with something newer). With no churn an interval is its stretch; when the
 *   truth keeps moving faster than pushes can follow, each change gets its own interval
 *   instead of one ever-growing stretch.
 *
 * Each interval also carries how much of it was excused (the device could not be reached
 * by anything: its app in the foreground with its network down, or the server down), so
 * `attributableMs` is what the system itself took.
 */

export interface Observation {
  readonly at: number;
  /** False while the device is not judged (a web-only device in the background). */
  readonly measured: boolean;
  readonly shown: number;
  readonly truth: number;
  /** Nothing could reach the device right now. */
  readonly excused: boolean;
  /** What the device is doing, for the record: 'fg', 'bg', 'fg/link-down', … */
  readonly state: string;
}

export type IntervalEnd = 'caught-up' | 'unmeasured' | 'open';

export interface Interval {
  readonly device: string;
  readonly start: number;
  readonly end: number;
  readonly lengthMs: number;
  readonly excusedMs: number;
  readonly attributableMs: number;
  /** What made the device wrong (or moved the truth) at the start. */
  readonly cause: string;
  readonly stateAtStart: string;
  readonly shownAtStart: number;
  readonly truthAtStart: number;
  readonly endedBy: IntervalEnd;
}

export interface Stretch {
  readonly device: string;
  readonly start: number;
  readonly end: number;
  readonly lengthMs: number;
  readonly excusedMs: number;
  readonly endedBy: IntervalEnd;
}

interface Pending {
  readonly start: number;
  readonly excusedAt: number;
  readonly cause: string;
  readonly state: string;
  readonly shown: number;
  readonly truth: number;
}

export class DisagreementTracker {
  readonly intervals: Interval[] = [];
  readonly stretches: Stretch[] = [];
  readonly #device: string;
  #last: Observation | null = null;
  /** Time spent excused since tracking began, up to `#last.at`. */
  #excused = 0;
  #pending: Pending[] = [];
  /** The truth's values since the oldest pending disturbance: [since, value]. */
  #history: Array<[number, number]> = [];
  #stretch: { start: number; excusedAt: number } | null = null;

  constructor(device: string) {
    this.#device = device;
  }

  /** Whether the device is wrong right now (and judged). */
  get wrong(): boolean {
    return this.#stretch !== null;
  }

  /** Disturbances not caught up with yet. */
  get pending(): number {
    return this.#pending.length;
  }

  observe(now: Observation, cause: string): void {
    const last = this.#last;
    if (last !== null) {
      if (now.at < last.at) throw new RangeError('observations must not go back in time');
      if (last.excused) this.#excused += now.at - last.at;
    }
    this.#last = now;
    if (!now.measured) {
      this.#closeAll(now.at, 'unmeasured');
      this.#history = [];
      return;
    }
    const truthMoved = last === null || !last.measured || last.truth !== now.truth;
    if (truthMoved) this.#history.push([now.at, now.truth]);
    if (now.shown === now.truth) {
      this.#resolve(this.#pending.length, now.at);
      this.#closeStretch(now.at, 'caught-up');
      this.#history = [[now.at, now.truth]];
      return;
    }
    if (this.#stretch === null) this.#stretch = { start: now.at, excusedAt: this.#excused };
    if (this.#pending.length === 0 || truthMoved) {
      this.#pending.push({
        start: now.at,
        excusedAt: this.#excused,
        cause,
        state: now.state,
        shown: now.shown,
        truth: now.truth,
      });
    }
    // The newest disturbance whose truth values since include what is shown now: it and
    // every older one are caught up with (older ones saw those values too).
    for (let i = this.#pending.length - 1; i >= 0; i--) {
      const since = (this.#pending[i] as Pending).start;
      if (this.#heldSince(since, now.shown)) {
        this.#resolve(i + 1, now.at);
        break;
      }
    }
    this.#trimHistory();
  }

  /** Ends tracking: whatever is still pending is reported as open at `at`. */
  finish(at: number): void {
    const last = this.#last;
    if (last !== null) {
      if (last.excused) this.#excused += Math.max(0, at - last.at);
      this.#last = { ...last, at: Math.max(at, last.at) };
    }
    this.#closeAll(at, 'open');
  }

  /** Whether the truth held `value` at some moment in [since, now]. */
  #heldSince(since: number, value: number): boolean {
    for (let i = this.#history.length - 1; i >= 0; i--) {
      const [from, held] = this.#history[i] as [number, number];
      if (held === value) return true;
      if (from <= since) return false;
    }
    return false;
  }

  #trimHistory(): void {
    const oldest = this.#pending[0]?.start;
    if (oldest === undefined) {
      this.#history = this.#history.slice(-1);
      return;
    }
    let keep = 0;
    for (let i = 0; i < this.#history.length; i++) if ((this.#history[i] as [number, number])[0] <= oldest) keep = i;
    if (keep > 0) this.#history = this.#history.slice(keep);
  }

  /** Closes the `count` oldest pending disturbances as caught up at `at`. */
  #resolve(count: number, at: number): void {
    for (const pending of this.#pending.splice(0, count)) this.#record(pending, at, 'caught-up');
  }

  #closeAll(at: number, endedBy: IntervalEnd): void {
    for (const pending of this.#pending.splice(0)) this.#record(pending, at, endedBy);
    this.#closeStretch(at, endedBy);
  }

  #record(pending: Pending, at: number, endedBy: IntervalEnd): void {
    const lengthMs = at - pending.start;
    const excusedMs = Math.min(lengthMs, this.#excused - pending.excusedAt);
    this.intervals.push({
      device: this.#device,
      start: pending.start,
      end: at,
      lengthMs,
      excusedMs,
      attributableMs: lengthMs - excusedMs,
      cause: pending.cause,
      stateAtStart: pending.state,
      shownAtStart: pending.shown,
      truthAtStart: pending.truth,
      endedBy,
    });
  }

  #closeStretch(at: number, endedBy: IntervalEnd): void {
    const stretch = this.#stretch;
    if (stretch === null) return;
    this.#stretch = null;
    const lengthMs = at - stretch.start;
    this.stretches.push({
      device: this.#device,
      start: stretch.start,
      end: at,
      lengthMs,
      excusedMs: Math.min(lengthMs, this.#excused - stretch.excusedAt),
      endedBy,
    });
  }
}
