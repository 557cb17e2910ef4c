/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes one token; false when none is left. */
  take(now = Date.now()): boolean {
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whole seconds until the next token (at least 1): the `Retry-After` of a refusal (SPEC EDGE-4). */
  retryAfterSeconds(now = Date.now()): number {
    const tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    return Math.max(1, Math.ceil((1 - tokens) / this.rate));
  }
}

/** Token buckets per key (client address), forgetting keys idle for a minute. */
export class KeyedRateLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #seen = new Map<string, number>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {}

  take(key: string, now = Date.now()): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      // Bound the map: a sweep of keys idle for 60 s whenever it grows past 10,000 addresses.
      if (this.#buckets.size > 10_000) this.#forgetIdle(now);
      bucket = new TokenBucket(this.rate, this.burst, now);
      this.#buckets.set(key, bucket);
    }
    this.#seen.set(key, now);
    return bucket.take(now);
  }

  /** Whole seconds until `key` may try again (at least 1). */
  retryAfterSeconds(key: string, now = Date.now()): number {
    return this.#buckets.get(key)?.retryAfterSeconds(now) ?? 1;
  }

  #forgetIdle(now: number): void {
    for (const [key, at] of this.#seen) {
      if (now - at > 60_000) {
        this.#seen.delete(key);
        this.#buckets.delete(key);
      }
    }
  }
}
