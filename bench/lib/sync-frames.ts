/** y-websocket sync frames, for clients that speak the protocol by hand. */
import * as encoding from 'lib0/encoding';

export const SyncType = { step1: 0, step2: 1, update: 2 } as const;

/** A sync message: type 0, the sub-type, the payload as a length-prefixed byte array. */
export function syncFrame(sub: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  encoding.writeVarUint(encoder, sub);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}
