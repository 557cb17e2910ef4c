/**
 * The y-websocket wire protocol (SPEC SYNC-2), spoken alike by the server and the SDK: one
 * message per binary frame, a varuint message type, then for sync messages a varuint
 * sub-type and a length-prefixed payload. Decoding is strict: unknown types, truncation and
 * trailing bytes are a WireError (the server closes with 4400).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

export const MessageType = { sync: 0, awareness: 1, auth: 2, queryAwareness: 3 } as const;
export const SyncType = { step1: 0, step2: 1, update: 2 } as const;

export type WireMessage =
  | { readonly type: 'step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'step2'; readonly update: Uint8Array }
  | { readonly type: 'update'; readonly update: Uint8Array }
  | { readonly type: 'awareness'; readonly update: Uint8Array }
  | { readonly type: 'query-awareness' };

/** A frame that is not a valid protocol message. */
export class WireError extends Error {}

/** Decodes one frame; throws WireError when it is not exactly one valid message. */
export function decodeMessage(bytes: Uint8Array): WireMessage {
  try {
    const decoder = decoding.createDecoder(bytes);
    const message = decodeBody(decoder);
    if (decoding.hasContent(decoder)) throw new WireError('trailing bytes after the message');
    return message;
  } catch (err) {
    if (err instanceof WireError) throw err;
    throw new WireError(`truncated message: ${(err as Error).message}`);
  }
}

function decodeBody(decoder: decoding.Decoder): WireMessage {
  const type = decoding.readVarUint(decoder);
  switch (type) {
    case MessageType.sync: {
      const sub = decoding.readVarUint(decoder);
      const payload = decoding.readVarUint8Array(decoder);
      if (sub === SyncType.step1) return { type: 'step1', stateVector: payload };
      if (sub === SyncType.step2) return { type: 'step2', update: payload };
      if (sub === SyncType.update) return { type: 'update', update: payload };
      throw new WireError(`unknown sync message type ${sub}`);
    }
    case MessageType.awareness:
      return { type: 'awareness', update: decoding.readVarUint8Array(decoder) };
    case MessageType.queryAwareness:
      return { type: 'query-awareness' };
    default:
      throw new WireError(`unknown message type ${type}`);
  }
}

/** The message type of a frame (its first varuint), without decoding the rest. */
export function messageTypeOf(bytes: Uint8Array): number {
  try {
    return decoding.readVarUint(decoding.createDecoder(bytes));
  } catch (err) {
    throw new WireError(`truncated message: ${(err as Error).message}`);
  }
}

/**
 * A sync message: its type, its sub-type (one byte each) and the payload with its length as a
 * varuint, written as lib0's encoder writes them, straight into one array of the exact size
 * (the server encodes a frame per relayed update: lib0's encoder would allocate twice).
 */
function encodeSync(sub: number, payload: Uint8Array): Uint8Array {
  const length = payload.byteLength;
  let lengthBytes = 1;
  for (let rest = length; rest > 0x7f; rest = Math.floor(rest / 128)) lengthBytes++;
  const frame = new Uint8Array(2 + lengthBytes + length);
  frame[0] = MessageType.sync;
  frame[1] = sub;
  let at = 2;
  let rest = length;
  while (rest > 0x7f) {
    frame[at++] = 0x80 | (rest & 0x7f);
    rest = Math.floor(rest / 128);
  }
  frame[at++] = rest;
  frame.set(payload, at);
  return frame;
}

/** Sync step 1: "here is my state vector, send me what I lack". */
export function encodeStep1(stateVector: Uint8Array): Uint8Array {
  return encodeSync(SyncType.step1, stateVector);
}

/** Sync step 2: the answer to a step 1, everything the asker lacks. */
export function encodeStep2(update: Uint8Array): Uint8Array {
  return encodeSync(SyncType.step2, update);
}

/** An incremental update. */
export function encodeUpdate(update: Uint8Array): Uint8Array {
  return encodeSync(SyncType.update, update);
}

export function encodeAwareness(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, MessageType.awareness);
  encoding.writeVarUint8Array(encoder, update);
  return encoding.toUint8Array(encoder);
}
