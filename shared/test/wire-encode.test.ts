/**
 * The sync messages the server writes for every relay (SPEC SYNC-2, SYNC-15): byte for byte
 * what lib0's encoder writes, at every length where the varuint of the payload's length
 * grows a byte, and read back by the strict decoder.
 */
import assert from 'node:assert/strict';
import * as encoding from 'lib0/encoding';
import { describe, test } from 'vitest';
import { decodeMessage, encodeStep1, encodeStep2, encodeUpdate, MessageType, SyncType } from '../src/index.js';

function lib0Sync(sub: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.sync);
  encoding.writeVarUint(encoder, sub);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

const LENGTHS = [0, 1, 127, 128, 129, 16_383, 16_384, 2_097_151, 2_097_152];

describe('sync message encoding', () => {
  test('[SYNC-2] step 1, step 2 and update frames equal lib0’s encoding at every varuint width', () => {
    for (const length of LENGTHS) {
      const payload = Uint8Array.from({ length }, (_, i) => (i * 31 + length) & 0xff);
      for (const [sub, encode] of [
        [SyncType.step1, encodeStep1],
        [SyncType.step2, encodeStep2],
        [SyncType.update, encodeUpdate],
      ] as const) {
        const frame = encode(payload);
        assert.deepEqual(frame, lib0Sync(sub, payload), `sub-type ${sub}, ${length} bytes`);
        const message = decodeMessage(frame);
        const body = message.type === 'step1' ? message.stateVector : 'update' in message ? message.update : null;
        assert.deepEqual(body, payload);
      }
    }
  });
});
