import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { Backoff } from '../src/backoff.js';
import { Timing } from '../src/timing.js';

/** A seeded generator (mulberry32), so a failure can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('Backoff', () => {
  test('[SDK-3] ceilings double from the base up to the cap', () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0.999999 });
    const delays = Array.from({ length: 7 }, () => backoff.next());
    assert.deepEqual(delays, [99, 199, 399, 799, 999, 999, 999]);
  });

  test('[SDK-3] full jitter: every delay is in [0, ceiling), and the whole range is used', () => {
    const seed = 20_240_601;
    const backoff = new Backoff({ baseMs: 500, capMs: 30_000, random: seeded(seed) });
    const samples: number[] = [];
    for (let i = 0; i < 2_000; i++) {
      const ceiling = backoff.ceilingMs;
      const delay = backoff.next();
      assert.ok(delay >= 0 && delay < ceiling, `seed ${seed}: delay ${delay} outside [0, ${ceiling})`);
      if (ceiling === 30_000) samples.push(delay);
    }
    assert.ok(Math.min(...samples) < 3_000, `seed ${seed}: low delays occur`);
    assert.ok(Math.max(...samples) > 27_000, `seed ${seed}: high delays occur`);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    assert.ok(Math.abs(mean - 15_000) < 1_500, `seed ${seed}: mean ${mean} near half the cap`);
  });

  test('random 0 gives no delay at all (a retry can be immediate)', () => {
    const backoff = new Backoff({ random: () => 0 });
    assert.equal(backoff.next(), 0);
  });

  test('reset() starts over from the base', () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.next();
    assert.equal(backoff.attempt, 3);
    backoff.reset();
    assert.equal(backoff.attempt, 0);
    assert.equal(backoff.next(), 50);
  });

  test('thousands of attempts never overflow past the cap', () => {
    const backoff = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 5_000; i++) backoff.next();
    assert.equal(backoff.ceilingMs, Timing.backoffCapMs);
    assert.equal(backoff.next(), Timing.backoffCapMs / 2);
  });

  test('refuses a base above the cap, or a base of 0', () => {
    assert.throws(() => new Backoff({ baseMs: 2_000, capMs: 1_000 }), RangeError);
    assert.throws(() => new Backoff({ baseMs: 0 }), RangeError);
  });
});
