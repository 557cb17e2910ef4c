/**
 * One lane of work per key (a push address): each piece of work starts once the key's earlier
 * work has settled, so a decision that reads the store, awaits, and then writes is never
 * interleaved with another decision about the same key (the store answers through promises:
 * between a read and the write it leads to, other calls run). Work on different keys runs
 * side by side.
 */
export class TokenLanes {
  /** The last work queued per key; dropped once it settled with nothing queued behind it. */
  readonly #tails = new Map<string, Promise<void>>();

  /** `onError`: where a throw of a piece of work goes (the lane goes on with the next one). */
  constructor(private readonly onError: (err: unknown, key: string) => void) {}

  /** Runs `work` after the key's earlier work; the promise settles once it ran, and never rejects. */
  run(key: string, work: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.then(work).catch((err: unknown) => this.onError(err, key));
    this.#tails.set(key, next);
    return next.then(() => {
      if (this.#tails.get(key) === next) this.#tails.delete(key);
    });
  }

  /** Keys with work queued or running. */
  get busy(): number {
    return this.#tails.size;
  }
}
