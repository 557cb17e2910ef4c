/**
 * The wire protocol as the SDK reads it: shared's strict codec for sync messages; awareness
 * and anything else the SDK does not use is ignored rather than treated as an error.
 */
import { decodeMessage, MessageType, messageTypeOf, WireError } from '@badgesync/shared';

export { encodeStep1, encodeStep2, encodeUpdate, MessageType, WireError } from '@badgesync/shared';

/** A message from the server, as the SDK cares about it. */
export type ServerMessage =
  | { readonly type: 'step1'; readonly stateVector: Uint8Array }
  | { readonly type: 'step2'; readonly update: Uint8Array }
  | { readonly type: 'update'; readonly update: Uint8Array }
  /** Awareness and anything else the SDK does not use. */
  | { readonly type: 'ignored'; readonly messageType: number };

/** Decodes one frame from the server; throws WireError when it is not a valid message. */
export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const messageType = messageTypeOf(bytes);
  if (messageType !== MessageType.sync) return { type: 'ignored', messageType };
  const message = decodeMessage(bytes);
  if (message.type === 'step1' || message.type === 'step2' || message.type === 'update') return message;
  throw new WireError(`unexpected ${message.type} message`);
}
