/**
 * The y-websocket wire protocol as the SDK speaks it: one message per binary frame, a
 * varuint message type, then for sync messages a varuint sub-type and a length-prefixed
 * payload. Encoding uses y-protocols; decoding is strict so a garbled frame is noticed.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { messageYjsSyncStep1, messageYjsSyncStep2, messageYjsUpdate } from 'y-protocols/sync';

/** Top-level message types of the y-websocket protocol. */
export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;

/** A message from the server, as the SDK cares about it. */
export type ServerMessage =
  | { readonly type: 'step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'step2'; readonly update: Uint8Array }
  | { readonly type: 'update'; readonly update: Uint8Array }
  /** Awareness and anything else the SDK does not use. */
  | { readonly type: 'ignored'; readonly messageType: number };

/** Thrown by decodeServerMessage on a frame that is not a valid message. */
export class WireError extends Error {}

function syncMessage(sub: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.sync);
  encoding.writeVarUint(encoder, sub);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

/** Sync step 1: "here is my state vector, send me what I lack". */
export function encodeStep1(stateVector: Uint8Array): Uint8Array {
  return syncMessage(messageYjsSyncStep1, stateVector);
}

/** Sync step 2: the answer to a step 1, everything the asker lacks. */
export function encodeStep2(update: Uint8Array): Uint8Array {
  return syncMessage(messageYjsSyncStep2, update);
}

/** An incremental update. */
export function encodeUpdate(update: Uint8Array): Uint8Array {
  return syncMessage(messageYjsUpdate, update);
}

/** Decodes one frame from the server; throws WireError when it is not a valid message. */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  try {
    const decoder = decoding.createDecoder(bytes);
    const type = decoding.readVarUint(decoder);
    if (type !== MessageType.sync) return { type: 'ignored', messageType: type };
    const sub = decoding.readVarUint(decoder);
    const payload = decoding.readVarUint8Array(decoder);
    if (decoding.hasContent(decoder)) throw new WireError('trailing bytes after a sync message');
    if (sub === messageYjsSyncStep1) return { type: 'step1', stateVector: payload };
    if (sub === messageYjsSyncStep2) return { type: 'step2', update: payload };
    if (sub === messageYjsUpdate) return { type: 'update', update: payload };
    throw new WireError(`unknown sync message type ${sub}`);
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`truncated message: ${(err as Error).message}`);
  }
}
