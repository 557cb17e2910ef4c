/**
 * The y-websocket wire protocol (SPEC SYNC-2): one message per binary frame, a varuint
 * message type, then for sync messages a varuint sub-type and a length-prefixed payload.
 * Decoding is strict: unknown types and trailing bytes are errors (close 4400).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
export const SyncType = { step1: 0, step2: 1, update: 2 } as const;

export type ClientMessage =
  | { readonly type: 'step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'step2'; readonly update: Uint8Array }
  | { readonly type: 'update'; readonly update: Uint8Array }
  | { readonly type: 'awareness'; readonly update: Uint8Array }
  | { readonly type: 'query-awareness' };

export class ProtocolError extends Error {}

export function decodeMessage(bytes: Uint8Array): ClientMessage {
  try {
    const decoder = decoding.createDecoder(bytes);
    const message = decodeBody(decoder);
    if (decoding.hasContent(decoder)) throw new ProtocolError('trailing bytes after the message');
    return message;
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(`truncated message: ${(err as Error).message}`);
  }
}

function decodeBody(decoder: decoding.Decoder): ClientMessage {
  const type = decoding.readVarUint(decoder);
  switch (type) {
    case MessageType.sync: {
      const sub = decoding.readVarUint(decoder);
      const payload = decoding.readVarUint8Array(decoder);
      if (sub === SyncType.step1) return { type: 'step1', stateVector: checkedStateVector(payload) };
      if (sub === SyncType.step2) return { type: 'step2', update: payload };
      if (sub === SyncType.update) return { type: 'update', update: payload };
      throw new ProtocolError(`unknown sync message type ${sub}`);
    }
    case MessageType.awareness:
      return { type: 'awareness', update: decoding.readVarUint8Array(decoder) };
    case MessageType.queryAwareness:
      return { type: 'query-awareness' };
    default:
      throw new ProtocolError(`unknown message type ${type}`);
  }
}

/**
 * [SYNC-9] A step 1's state vector is decoded here, at the boundary. The room only decodes it
 * when it builds the answer, inside the socket's message handler or a commit callback, and a
 * corrupt one threw there: one bad frame took the whole process down (e2e malformed-frames).
 */
function checkedStateVector(payload: Uint8Array): Uint8Array {
  try {
    Y.decodeStateVector(payload);
  } catch {
    throw new ProtocolError('corrupt state vector in sync step 1');
  }
  return payload;
}

function encodeSync(sub: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.sync);
  encoding.writeVarUint(encoder, sub);
  encoding.writeVarUint8Array(encoder, payload);
  return encoding.toUint8Array(encoder);
}

export function encodeStep1(stateVector: Uint8Array): Uint8Array {
  return encodeSync(SyncType.step1, stateVector);
}

export function encodeStep2(update: Uint8Array): Uint8Array {
  return encodeSync(SyncType.step2, update);
}

export function encodeUpdate(update: Uint8Array): Uint8Array {
  return encodeSync(SyncType.update, update);
}

export function encodeAwareness(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}
