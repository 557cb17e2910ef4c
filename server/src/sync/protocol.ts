/**
 * The server's side of the wire protocol (SPEC SYNC-2): shared's strict codec, plus the
 * checks only the server makes at the boundary.
 */
import { decodeMessage as decodeWire, stateVectorProblem, WireError, type WireMessage } from '@badgesync/shared';

export { encodeAwareness, encodeStep1, encodeStep2, encodeUpdate } from '@badgesync/shared';

export type ClientMessage = WireMessage;

export class ProtocolError extends Error {}

/** Decodes a client's frame; throws ProtocolError (close 4400) when it is not valid. */
export function decodeMessage(bytes: Uint8Array): ClientMessage {
  let message: WireMessage;
  try {
    message = decodeWire(bytes);
  } catch (err) {
    throw new ProtocolError(err instanceof WireError ? err.message : String(err));
  }
  if (message.type === 'step1') checkStateVector(message.stateVector);
  return message;
}

/**
 * [SYNC-9] A step 1's state vector is decoded here, at the boundary. The room only decodes it
 * when it builds the answer, inside the socket's message handler or a commit callback, and a
 * corrupt one threw there: one bad frame took the whole process down (e2e malformed-frames).
 */
function checkStateVector(payload: Uint8Array): void {
  // [SYNC-12] Also the numbers: a clock of NaN or 2^53 decodes, and Yjs then computes with it.
  const problem = stateVectorProblem(payload);
  if (problem !== null) throw new ProtocolError(`corrupt state vector in sync step 1: ${problem}`.slice(0, 120));
}
