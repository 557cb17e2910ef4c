/**
 * The binary frame of one message of the update bus (SPEC CLUSTER-2): which node committed
 * which update of which account under which seq. Version 1, big-endian, every field
 * length-prefixed:
 *
 *     u8 version (1) | u8 n, n bytes origin node ID | u8 n, n bytes account ID
 *     | u64 seq | u32 n, n bytes update
 *
 * Decoding is strict: a truncated frame, a field outside its range, a length above its limit
 * or trailing bytes is refused with an `UpdateFrameError` carrying its code. A length is
 * compared with the bytes actually there before anything is read, and nothing is allocated
 * from it: the decoded update is a view into the frame.
 */
import { type AccountId, isAccountId } from '@badgesync/shared';
import { isNodeId } from './node-id.js';
import { UpdateFrameError } from './update-frame-error.js';

export const UPDATE_FRAME_VERSION = 1;

/**
 * 64 MiB: the largest WebSocket message a server can be configured to take
 * (`BADGESYNC_MAX_MESSAGE_BYTES`'s maximum), so no device update is ever too large; a longer
 * announced length is a corrupt or hostile frame.
 */
export const MAX_BUS_UPDATE_BYTES = 64 * 1024 * 1024;

export interface UpdateFrame {
  /** The node that committed the update. */
  readonly origin: string;
  readonly account: AccountId;
  /** The update's seq in the account's log (contiguous per account, from 1). */
  readonly seq: number;
  readonly update: Uint8Array;
}

const HEADER_BYTES = 1;
const SEQ_BYTES = 8;
const UPDATE_LENGTH_BYTES = 4;
const ascii = new TextDecoder('latin1');

function isSeq(seq: number): boolean {
  return Number.isSafeInteger(seq) && seq >= 1;
}

export function encodeUpdateFrame(frame: UpdateFrame): Uint8Array {
  if (!isNodeId(frame.origin)) throw new UpdateFrameError('invalid_origin');
  if (!isAccountId(frame.account)) throw new UpdateFrameError('invalid_account');
  if (!isSeq(frame.seq)) throw new UpdateFrameError('invalid_seq', String(frame.seq));
  if (frame.update.byteLength > MAX_BUS_UPDATE_BYTES) throw new UpdateFrameError('update_too_large');
  const origin = frame.origin;
  const account = frame.account;
  const size =
    HEADER_BYTES + 1 + origin.length + 1 + account.length + SEQ_BYTES + UPDATE_LENGTH_BYTES + frame.update.byteLength;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  bytes[at++] = UPDATE_FRAME_VERSION;
  // Both IDs are ASCII (checked above): one byte per character.
  for (const text of [origin, account]) {
    bytes[at++] = text.length;
    for (let i = 0; i < text.length; i++) bytes[at++] = text.charCodeAt(i);
  }
  view.setBigUint64(at, BigInt(frame.seq));
  at += SEQ_BYTES;
  view.setUint32(at, frame.update.byteLength);
  at += UPDATE_LENGTH_BYTES;
  bytes.set(frame.update, at);
  return bytes;
}

export interface DecodeOptions {
  /** Defaults to `MAX_BUS_UPDATE_BYTES`. */
  readonly maxUpdateBytes?: number;
}

export function decodeUpdateFrame(bytes: Uint8Array, options: DecodeOptions = {}): UpdateFrame {
  const maxUpdateBytes = options.maxUpdateBytes ?? MAX_BUS_UPDATE_BYTES;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string): void => {
    if (bytes.byteLength - at < n) {
      throw new UpdateFrameError('truncated', `${what}: ${n} bytes announced, ${bytes.byteLength - at} left`);
    }
  };
  need(HEADER_BYTES, 'version');
  const version = bytes[at++];
  if (version !== UPDATE_FRAME_VERSION) throw new UpdateFrameError('unsupported_version', String(version));
  const readShortText = (what: string): string => {
    need(1, what);
    const length = bytes[at++] as number;
    need(length, what);
    const text = ascii.decode(bytes.subarray(at, at + length));
    at += length;
    return text;
  };
  const origin = readShortText('origin');
  if (!isNodeId(origin)) throw new UpdateFrameError('invalid_origin');
  const account = readShortText('account');
  if (!isAccountId(account)) throw new UpdateFrameError('invalid_account');
  need(SEQ_BYTES, 'seq');
  const bigSeq = view.getBigUint64(at);
  at += SEQ_BYTES;
  if (bigSeq < 1n || bigSeq > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UpdateFrameError('invalid_seq', String(bigSeq));
  }
  need(UPDATE_LENGTH_BYTES, 'update length');
  const length = view.getUint32(at);
  at += UPDATE_LENGTH_BYTES;
  if (length > maxUpdateBytes) throw new UpdateFrameError('update_too_large', `${length} > ${maxUpdateBytes}`);
  need(length, 'update');
  // A plain Uint8Array view (not a Buffer's subarray): the same type whatever the caller passed.
  const update = new Uint8Array(bytes.buffer, bytes.byteOffset + at, length);
  at += length;
  if (at !== bytes.byteLength) throw new UpdateFrameError('trailing_bytes', `${bytes.byteLength - at} bytes`);
  return { origin, account, seq: Number(bigSeq), update };
}
