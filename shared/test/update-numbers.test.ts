/**
 * The number checks at their edges (SPEC RULE-15, RULE-16, SYNC-12): the last value that
 * passes and the first that does not, for clocks, lengths, client IDs and state vectors.
 * Through the room and with the reported attacks: server/test/room-update-numbers.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { CloseCode, MAX_CLIENT_ID, MAX_CLOCK_ADVANCE, stateVectorProblem, type Verdict } from '../src/index.js';
import { type RawStruct, rawStateVector, rawUpdate } from './helpers/raw-update.js';
import { A, makeWorld } from './helpers/world.js';

/** A mute vote of a for feed.x (counter 2: one above c's), at the start of a's array. */
const MUTE: RawStruct = { kind: 'item', root: 'v2/device/phone-a', value: { key: 'm/feed.x', val: 4 } };

function verdictOf(update: Uint8Array): Verdict {
  const world = makeWorld();
  const before = Y.encodeStateAsUpdate(world.server.doc);
  const verdict = world.server.receive(A, update);
  if (verdict.kind !== 'accept') assert.deepEqual(Y.encodeStateAsUpdate(world.server.doc), before);
  return verdict;
}

function assertMalformed(update: Uint8Array, detail: RegExp): void {
  const verdict = verdictOf(update);
  assert.equal(verdict.kind, 'refuse', JSON.stringify(verdict));
  if (verdict.kind !== 'refuse') return;
  assert.equal(verdict.reason, 'malformed');
  assert.equal(verdict.code, CloseCode.invalidMessage);
  assert.match(verdict.detail, detail);
}

describe('update numbers', () => {
  test('[RULE-15] client IDs: 2^32 − 1 is written under, 2^32, 2^53 and NaN are refused', () => {
    assert.equal(verdictOf(rawUpdate([{ client: MAX_CLIENT_ID, clock: 0, structs: [MUTE] }])).kind, 'accept');
    for (const client of [2 ** 32, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      assertMalformed(rawUpdate([{ client, clock: 0, structs: [MUTE] }]), /client/);
    }
  });

  test('[RULE-15] lengths below 1 or not exact, and ends past 2^53 − 1, are refused (NaN fails every comparison)', () => {
    for (const len of [0, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assertMalformed(rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'gc', len }] }]), /length|clock/);
      assertMalformed(rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'skip', len }] }]), /length|clock/);
      assertMalformed(rawUpdate([], [{ client: 1001, clock: 0, len }]), /delete range/);
    }
    assertMalformed(rawUpdate([], [{ client: 1001, clock: 2 ** 53 - 1, len: 1 }]), /passes 2\^53/);
    assertMalformed(rawUpdate([{ client: 9, clock: 2 ** 53 - 1, structs: [MUTE] }]), /passes 2\^53/);
  });

  test('[RULE-15] origin, right origin and parent ids must be exact', () => {
    for (const clock of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assertMalformed(
        rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'item', origin: { client: 1001, clock }, value: 1 }] }]),
        /origin/,
      );
      assertMalformed(
        rawUpdate([
          { client: 9, clock: 0, structs: [{ kind: 'item', rightOrigin: { client: 1001, clock }, value: 1 }] },
        ]),
        /right origin/,
      );
    }
  });

  test('[RULE-16] one update advances a client by MAX_CLOCK_ADVANCE at most', () => {
    const exact = verdictOf(
      rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'gc', len: MAX_CLOCK_ADVANCE - 1 }, MUTE] }]),
    );
    assert.equal(exact.kind, 'accept', JSON.stringify(exact));
    assertMalformed(
      rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'gc', len: MAX_CLOCK_ADVANCE }, MUTE] }]),
      /advances the client/,
    );
    // Skip structs count too: they move the clock of what follows.
    assertMalformed(
      rawUpdate([{ client: 9, clock: 0, structs: [{ kind: 'skip', len: MAX_CLOCK_ADVANCE + 1 }] }]),
      /advances/,
    );
  });

  test('[SYNC-12] state vectors: exact numbers, no client twice, no trailing bytes', () => {
    assert.equal(stateVectorProblem(rawStateVector([{ client: MAX_CLIENT_ID, clock: 2 ** 53 - 1 }])), null);
    assert.equal(stateVectorProblem(rawStateVector([])), null);
    for (const entries of [
      [{ client: 1, clock: Number.NaN }],
      [{ client: 1, clock: Number.POSITIVE_INFINITY }],
      [{ client: 1, clock: 2 ** 53 }],
      [{ client: 2 ** 32, clock: 0 }],
      [
        { client: 1, clock: 0 },
        { client: 1, clock: 2 },
      ],
    ]) {
      assert.notEqual(stateVectorProblem(rawStateVector(entries)), null, JSON.stringify(entries));
    }
    assert.match(stateVectorProblem(new Uint8Array([1, 5, 0, 0])) ?? '', /trailing/);
    assert.match(stateVectorProblem(new Uint8Array([2, 5, 0])) ?? '', /truncated/);
  });
});
