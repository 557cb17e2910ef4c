/**
 * The y-websocket wire format, written out by hand so tests build frames from raw bytes and
 * do not share the server's codec: a varuint message type, then for sync messages a varuint
 * sub-type and a varuint-length-prefixed payload (lib0 encoding).
 */

export const MSG_SYNC = 0;
export const MSG_AWARENESS = 1;
export const SYNC_STEP1 = 0;
export const SYNC_STEP2 = 1;
export const SYNC_UPDATE = 2;

/** lib0 varuint: 7 bits per byte, low bits first, high bit set on every byte but the last. */
export function varUint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  while (rest > 0x7f) {
    out.push(0x80 | (rest & 0x7f));
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** lib0 varUint8Array: the length as a varuint, then the bytes. */
export function varBytes(bytes: Uint8Array): Uint8Array {
  const length = varUint(bytes.length);
  const out = new Uint8Array(length.length + bytes.length);
  out.set(length, 0);
  out.set(bytes, length.length);
  return out;
}

export function concat(...parts: Array<Uint8Array | number[]>): Uint8Array {
  const size = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** [0 sync][sub][varUint8Array payload] */
export function syncFrame(sub: number, payload: Uint8Array): Uint8Array {
  return concat(varUint(MSG_SYNC), varUint(sub), varBytes(payload));
}

export const step1Frame = (stateVector: Uint8Array): Uint8Array => syncFrame(SYNC_STEP1, stateVector);
export const step2Frame = (update: Uint8Array): Uint8Array => syncFrame(SYNC_STEP2, update);
export const updateFrame = (update: Uint8Array): Uint8Array => syncFrame(SYNC_UPDATE, update);

/** A decoded server message; `other` for message types these tests do not read. */
export type ServerMessage =
  | { readonly kind: 'step1' | 'step2' | 'update'; readonly payload: Uint8Array }
  | { readonly kind: 'awareness'; readonly payload: Uint8Array }
  | { readonly kind: 'other'; readonly type: number };

class Reader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}

  varUint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const byte = this.bytes[this.at++];
      if (byte === undefined) throw new Error('truncated varuint');
      n += (byte & 0x7f) * scale;
      if (byte < 0x80) return n;
      scale *= 128;
    }
  }

  varBytes(): Uint8Array {
    const length = this.varUint();
    if (this.at + length > this.bytes.length) throw new Error('truncated payload');
    const out = this.bytes.subarray(this.at, this.at + length);
    this.at += length;
    return out;
  }
}

export function decodeServerMessage(bytes: Uint8Array): ServerMessage {
  const reader = new Reader(bytes);
  const type = reader.varUint();
  if (type === MSG_SYNC) {
    const sub = reader.varUint();
    const payload = reader.varBytes();
    const kind = sub === SYNC_STEP1 ? 'step1' : sub === SYNC_STEP2 ? 'step2' : 'update';
    return { kind, payload };
  }
  if (type === MSG_AWARENESS) return { kind: 'awareness', payload: reader.varBytes() };
  return { kind: 'other', type };
}
