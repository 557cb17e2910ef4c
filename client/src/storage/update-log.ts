/**
 * The record format of FileStorage's append-only file: each record is a kind byte, a
 * 32-bit little-endian payload length, then the payload. A crash mid-append leaves a short
 * last record, which decoding stops before (and the file is cut back to the last whole one).
 */

/** Kinds of records. */
export const RecordKind = {
  /** A Yjs update (V1 encoding). */
  update: 1,
  /** The replica metadata, UTF-8 JSON; the last one wins. */
  meta: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Bytes before each payload: kind (1) and length (4). */
export const RECORD_HEADER_BYTES = 5;

/** One decoded record. */
export interface LogRecord {
  readonly kind: RecordKind;
  readonly payload: Uint8Array;
}

/** Encodes one record. */
export function encodeRecord(kind: RecordKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_HEADER_BYTES + payload.length);
  out[0] = kind;
  new DataView(out.buffer).setUint32(1, payload.length, true);
  out.set(payload, RECORD_HEADER_BYTES);
  return out;
}

/**
 * Decodes records from the start of `bytes`, stopping at the first incomplete or unknown
 * one. `validLength` is where the whole records end.
 */
export function decodeRecords(bytes: Uint8Array): { records: LogRecord[]; validLength: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: LogRecord[] = [];
  let at = 0;
  while (at + RECORD_HEADER_BYTES <= bytes.length) {
    const kind = bytes[at];
    if (kind !== RecordKind.update && kind !== RecordKind.meta) break;
    const length = view.getUint32(at + 1, true);
    const end = at + RECORD_HEADER_BYTES + length;
    if (end > bytes.length) break;
    records.push({ kind, payload: bytes.subarray(at + RECORD_HEADER_BYTES, end) });
    at = end;
  }
  return { records, validLength: at };
}

/** A file name for an account ID: letters, digits, `_` and `-` kept, anything else %XX (so `..` is safe). */
export function fileNameFor(account: string): string {
  let name = '';
  for (const char of account) {
    name += /[A-Za-z0-9_-]/.test(char)
      ? char
      : [...new TextEncoder().encode(char)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return `${name}.bsync`;
}
