/**
 * The update bus frame codec (SPEC CLUSTER-2), fed raw bytes: every malformed frame is refused
 * with a coded `UpdateFrameError`, never another throw, and never reads past a length it
 * was not given.
 */
import assert from 'node:assert/strict';
import type { AccountId } from '@badgesync/shared';
import { BusFrameError } from '@badgesync/shared';
import * as fc from 'fast-check';
import { describe, test } from 'vitest';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import {
  decodeUpdateFrame,
  encodeUpdateFrame,
  MAX_BUS_UPDATE_BYTES,
  UPDATE_FRAME_VERSION,
  type UpdateFrame,
} from '../src/cluster/update-frame.js';
import { UpdateFrameError } from '../src/cluster/update-frame-error.js';

const sample: UpdateFrame = {
  origin: 'node-a',
  account: 'alice' as AccountId,
  seq: 7,
  update: new Uint8Array([1, 2, 3]),
};

/** The frame of `sample`, byte by byte as docs/CLUSTER.md lays it out. */
const sampleBytes = Uint8Array.from([
  UPDATE_FRAME_VERSION,
  6,
  ...Buffer.from('node-a'),
  5,
  ...Buffer.from('alice'),
  ...[0, 0, 0, 0, 0, 0, 0, 7],
  ...[0, 0, 0, 3],
  1,
  2,
  3,
]);

function refusal(bytes: Uint8Array, options?: { maxUpdateBytes: number }): string {
  try {
    decodeUpdateFrame(bytes, options);
  } catch (error) {
    assert.ok(error instanceof UpdateFrameError, `not an UpdateFrameError: ${String(error)}`);
    assert.ok(error.code in BusFrameError);
    return error.code;
  }
  assert.fail('decoded');
}

function withSeq(seq: bigint): Uint8Array {
  const bytes = sampleBytes.slice();
  new DataView(bytes.buffer).setBigUint64(1 + 1 + 6 + 1 + 5, seq);
  return bytes;
}

describe('update bus frame (CLUSTER-2)', () => {
  test('[CLUSTER-2] encodes the documented layout and decodes it back', () => {
    assert.deepEqual(encodeUpdateFrame(sample), sampleBytes);
    const decoded = decodeUpdateFrame(sampleBytes);
    assert.equal(decoded.origin, 'node-a');
    assert.equal(decoded.account, 'alice');
    assert.equal(decoded.seq, 7);
    assert.deepEqual([...decoded.update], [1, 2, 3]);
  });

  test('[CLUSTER-2] the update is a view into the frame, not a copy sized by the frame', () => {
    const decoded = decodeUpdateFrame(sampleBytes);
    assert.equal(decoded.update.buffer, sampleBytes.buffer);
  });

  test('[CLUSTER-2] an empty update and the largest seq round-trip', () => {
    const frame = { ...sample, seq: Number.MAX_SAFE_INTEGER, update: new Uint8Array(0) };
    assert.deepEqual(decodeUpdateFrame(encodeUpdateFrame(frame)), { ...frame });
  });

  test('[CLUSTER-2] every proper prefix is truncated', () => {
    assert.equal(refusal(new Uint8Array(0)), 'truncated');
    for (let n = 1; n < sampleBytes.length; n++) {
      assert.equal(refusal(sampleBytes.subarray(0, n)), 'truncated', `prefix of ${n} bytes`);
    }
  });

  test('[CLUSTER-2] another version is refused before anything else is read', () => {
    assert.equal(refusal(Uint8Array.of(2)), 'unsupported_version');
    assert.equal(refusal(Uint8Array.of(0, 1, 2, 3)), 'unsupported_version');
  });

  test('[CLUSTER-2] bad origin and account IDs', () => {
    assert.equal(refusal(Uint8Array.of(1, 0)), 'invalid_origin');
    assert.equal(refusal(Uint8Array.of(1, 1, 0x20, 1, 0x61)), 'invalid_origin');
    assert.equal(refusal(Uint8Array.of(1, 1, 0xc3, 1, 0x61)), 'invalid_origin');
    assert.equal(refusal(Uint8Array.of(1, 1, 0x61, 0)), 'invalid_account');
    assert.equal(refusal(Uint8Array.of(1, 1, 0x61, 1, 0x2f)), 'invalid_account');
    const long = Uint8Array.from([1, 129, ...new Uint8Array(129).fill(0x61)]);
    assert.equal(refusal(long), 'invalid_origin');
  });

  test('[CLUSTER-2] seq 0 and seqs above 2^53 − 1 are refused', () => {
    assert.equal(refusal(withSeq(0n)), 'invalid_seq');
    assert.equal(refusal(withSeq(2n ** 53n)), 'invalid_seq');
    assert.equal(refusal(withSeq(2n ** 64n - 1n)), 'invalid_seq');
    assert.equal(decodeUpdateFrame(withSeq(2n ** 53n - 1n)).seq, Number.MAX_SAFE_INTEGER);
  });

  test('[CLUSTER-2] an announced update length above the limit is refused without reading it', () => {
    const bytes = sampleBytes.slice(0, sampleBytes.length - 3);
    new DataView(bytes.buffer).setUint32(bytes.length - 4, 0xffffffff);
    assert.equal(refusal(bytes), 'update_too_large');
    new DataView(bytes.buffer).setUint32(bytes.length - 4, MAX_BUS_UPDATE_BYTES + 1);
    assert.equal(refusal(bytes), 'update_too_large');
    assert.equal(refusal(sampleBytes, { maxUpdateBytes: 2 }), 'update_too_large');
    assert.equal(decodeUpdateFrame(sampleBytes, { maxUpdateBytes: 3 }).seq, 7);
  });

  test('[CLUSTER-2] trailing bytes are refused', () => {
    assert.equal(refusal(Uint8Array.from([...sampleBytes, 0])), 'trailing_bytes');
  });

  test('[CLUSTER-2] encode refuses what decode would refuse', () => {
    assert.throws(() => encodeUpdateFrame({ ...sample, origin: 'has space' }), UpdateFrameError);
    assert.throws(() => encodeUpdateFrame({ ...sample, account: 'a/b' as AccountId }), UpdateFrameError);
    assert.throws(() => encodeUpdateFrame({ ...sample, seq: 0 }), UpdateFrameError);
    assert.throws(() => encodeUpdateFrame({ ...sample, seq: 1.5 }), UpdateFrameError);
  });

  const frames = fc.record({
    origin: fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
    account: fc.stringMatching(/^[A-Za-z0-9_.:@-]{1,128}$/).map((a) => a as AccountId),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    update: fc.uint8Array({ maxLength: 256 }),
  });

  test('[CLUSTER-2] property: every frame round-trips', () => {
    fc.assert(
      fc.property(frames, (frame) => {
        assert.deepEqual(decodeUpdateFrame(encodeUpdateFrame(frame)), { ...frame });
      }),
      propertyParams('update-frame round trip', 500),
    );
  });

  test('[CLUSTER-2] fuzz: random and mutated bytes decode or are refused with a code, never another throw', () => {
    const mutated = fc
      .tuple(frames, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat())
      .map(([frame, flips, cut]) => {
        const bytes = encodeUpdateFrame(frame).slice();
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        return cut % 3 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), mutated), (bytes) => {
        let frame: UpdateFrame;
        try {
          frame = decodeUpdateFrame(bytes);
        } catch (error) {
          assert.ok(error instanceof UpdateFrameError, `untyped throw: ${String(error)}`);
          assert.ok(error.code in BusFrameError);
          return;
        }
        // What decodes is exactly what encodes to these bytes.
        assert.deepEqual(encodeUpdateFrame(frame), bytes);
      }),
      propertyParams('update-frame fuzz', 3_000),
    );
  });
});
