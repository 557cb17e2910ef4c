/**
 * `SeqTracker` (SPEC CLUSTER-3..CLUSTER-5): a pure class, checked against a plain model of
 * "the set of applied seqs" over random histories (seeded), and on the cases that name the
 * rules.
 */
import assert from 'node:assert/strict';
import * as fc from 'fast-check';
import { describe, test } from 'vitest';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import { HOLE_GRACE_MS, SeqTracker } from '../src/cluster/seq-tracker.js';

describe('SeqTracker', () => {
  test('[CLUSTER-3] seqs applied in order move the watermark; below it they are duplicates', () => {
    const tracker = new SeqTracker(4);
    assert.equal(tracker.watermark, 4);
    assert.equal(tracker.record(5, 0), 'applied');
    assert.equal(tracker.record(6, 0), 'applied');
    assert.equal(tracker.watermark, 6);
    assert.equal(tracker.record(3, 0), 'duplicate');
    assert.equal(tracker.record(6, 0), 'duplicate');
    assert.deepEqual(tracker.holes(), []);
    assert.equal(tracker.needsRepair(10 * HOLE_GRACE_MS), false);
  });

  test('[CLUSTER-3] a seq above a hole waits; the missing seq fills the hole and the watermark jumps', () => {
    const tracker = new SeqTracker(0);
    tracker.record(1, 0);
    tracker.record(3, 0);
    tracker.record(5, 0);
    assert.equal(tracker.watermark, 1);
    assert.deepEqual(tracker.holes(), [
      { from: 2, to: 2 },
      { from: 4, to: 4 },
    ]);
    assert.equal(tracker.record(3, 0), 'duplicate');
    tracker.record(2, 0);
    assert.equal(tracker.watermark, 3);
    tracker.record(4, 0);
    assert.equal(tracker.watermark, 5);
    assert.deepEqual(tracker.holes(), []);
  });

  test('[CLUSTER-4] a hole is repaired only once it is older than the grace', () => {
    const tracker = new SeqTracker(10, { graceMs: 2_000 });
    tracker.record(12, 1_000);
    assert.equal(tracker.holeSince(), 1_000);
    assert.equal(tracker.needsRepair(1_000), false);
    assert.equal(tracker.needsRepair(2_999), false);
    tracker.record(13, 2_500);
    assert.equal(tracker.holeSince(), 1_000, 'the hole dates from the first seq above it');
    assert.equal(tracker.needsRepair(3_000), true);
    tracker.repaired(13);
    assert.equal(tracker.watermark, 13);
    assert.equal(tracker.needsRepair(3_000), false);
    assert.equal(tracker.holeSince(), undefined);
  });

  test('[CLUSTER-4] too many seqs waiting above one hole ask for repair at once', () => {
    const tracker = new SeqTracker(0, { maxPending: 3 });
    tracker.record(2, 0);
    tracker.record(3, 0);
    assert.equal(tracker.needsRepair(0), false);
    tracker.record(4, 0);
    assert.equal(tracker.needsRepair(0), true);
  });

  test('[CLUSTER-5] a lost last message: reconciliation knows a newer seq, repair is due at once', () => {
    const tracker = new SeqTracker(0);
    tracker.record(1, 0);
    tracker.noteNewest(1);
    assert.equal(tracker.needsRepair(0), false);
    tracker.noteNewest(2);
    assert.deepEqual(tracker.holes(), [{ from: 2, to: 2 }]);
    assert.equal(tracker.needsRepair(0), true);
    tracker.repaired(2);
    assert.equal(tracker.needsRepair(0), false);
    assert.deepEqual(tracker.holes(), []);
  });

  test('[CLUSTER-4] a repair below seqs applied meanwhile absorbs them', () => {
    const tracker = new SeqTracker(0);
    tracker.record(4, 0);
    tracker.record(5, 0);
    tracker.repaired(3);
    assert.equal(tracker.watermark, 5);
    tracker.repaired(2);
    assert.equal(tracker.watermark, 5, 'an older repair never moves it back');
  });

  test('refuses seqs that are not whole numbers from 1', () => {
    const tracker = new SeqTracker(0);
    assert.throws(() => tracker.record(0, 0), RangeError);
    assert.throws(() => tracker.record(1.5, 0), RangeError);
    assert.throws(() => new SeqTracker(-1), RangeError);
  });

  type Op =
    | { kind: 'record'; seq: number; dt: number }
    | { kind: 'repaired'; upTo: number; dt: number }
    | { kind: 'newest'; seq: number; dt: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('record' as const),
        seq: fc.integer({ min: 1, max: 40 }),
        dt: fc.nat(1_500),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('repaired' as const),
        upTo: fc.integer({ min: 0, max: 40 }),
        dt: fc.nat(1_500),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('newest' as const),
        seq: fc.integer({ min: 0, max: 40 }),
        dt: fc.nat(1_500),
      }),
    },
  );

  test('[CLUSTER-3][CLUSTER-4][CLUSTER-5] property: agrees with the set-of-applied-seqs model', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.array(op, { maxLength: 60 }), (start, ops) => {
        const graceMs = 2_000;
        const maxPending = 8;
        const tracker = new SeqTracker(start, { graceMs, maxPending });
        const applied = new Map<number, number>(); // seq → when first applied
        for (let seq = 1; seq <= start; seq++) applied.set(seq, 0);
        let known = 0;
        let now = 0;
        for (const step of ops) {
          now += step.dt;
          if (step.kind === 'record') {
            const fresh = !applied.has(step.seq);
            assert.equal(tracker.record(step.seq, now), fresh ? 'applied' : 'duplicate');
            if (fresh) applied.set(step.seq, now);
          } else if (step.kind === 'repaired') {
            for (let seq = 1; seq <= step.upTo; seq++) if (!applied.has(seq)) applied.set(seq, now);
            tracker.repaired(step.upTo);
          } else {
            known = Math.max(known, step.seq);
            tracker.noteNewest(step.seq);
          }
          let watermark = 0;
          while (applied.has(watermark + 1)) watermark++;
          assert.equal(tracker.watermark, watermark);
          const above = [...applied.entries()].filter(([seq]) => seq > watermark);
          const top = Math.max(watermark, known, ...above.map(([seq]) => seq));
          const missing: number[] = [];
          for (let seq = watermark + 1; seq <= top; seq++) if (!applied.has(seq)) missing.push(seq);
          assert.deepEqual(
            tracker.holes().flatMap(({ from, to }) => Array.from({ length: to - from + 1 }, (_, i) => from + i)),
            missing,
          );
          // A repair is due when the database is known to hold more than was applied, when a seq
          // has waited above the watermark for the grace, or when too many wait.
          const maxApplied = Math.max(watermark, ...above.map(([seq]) => seq));
          const oldest = Math.min(...above.map(([, at]) => at));
          const due = known > maxApplied || above.length >= maxPending || (above.length > 0 && now - oldest >= graceMs);
          assert.equal(tracker.needsRepair(now), due);
        }
      }),
      propertyParams('seq-tracker model', 1_000),
    );
  });
});
