/**
 * Seeded randomness for the chaos run. One seed drives everything; each actor draws from its
 * own named stream (`device:7`, `account:p3`, `apns`), so adding a device or an event kind
 * does not shift what every other actor does under the same seed.
 */

/** A 32-bit hash of a string (FNV-1a), for deriving stream seeds. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A small, fast PRNG (sfc32) with the helpers the schedule needs. */
export class Random {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number, stream = '') {
    this.#a = hash32(`a:${seed}:${stream}`);
    this.#b = hash32(`b:${seed}:${stream}`);
    this.#c = hash32(`c:${seed}:${stream}`);
    this.#d = 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Uniform in [min, max). */
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)] as T;
  }

  /** A waiting time of a Poisson process with `ratePerS` events per second, in ms. */
  exponentialMs(ratePerS: number): number {
    return (-Math.log(1 - this.next()) / ratePerS) * 1000;
  }

  /** A non-empty random subset of `items` (each kept with probability p, at least one). */
  subset<T>(items: readonly T[], p: number): T[] {
    const kept = items.filter(() => this.chance(p));
    return kept.length > 0 ? kept : [this.pick(items)];
  }
}

/** A fresh seed (31 bits, printable, easy to paste). */
export function freshSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
