/**
 * Byte-level mutation of corpus entries, drawn by fast-check so a run is replayable from its
 * seed: bit flips, byte sets, inserts and deletes, splices of two inputs, dictionary tokens,
 * and varint boundary injection (0, 1, 2^31, 2^32, 2^53 − 1, 2^53, overlong varints that
 * lib0 decodes to Infinity and NaN, −0). HTTP inputs also get line duplication and removal
 * and a Content-Length fix-up; sync inputs are mutated frame by frame, mostly inside the Yjs
 * payload with the frame's length prefix rewritten, so the mutation reaches the update
 * decoder and the write rules rather than stopping at the frame codec.
 */
import fc from 'fast-check';

/** lib0 varuint of a non-negative integer up to 2^53 (7 bits a byte, low first). */
export function varUint(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  while (rest > 0x7f) {
    out.push(0x80 | (rest % 128));
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/**
 * An overlong varuint lib0's readVarUint accepts: it checks the range only between bytes,
 * so zero groups push the multiplier to 2^1022 and a final 0x7f overflows to Infinity;
 * zero groups past the overflow give 0 × Infinity = NaN.
 */
export function overlongVarUint(value: 'Infinity' | 'NaN'): number[] {
  return value === 'Infinity' ? [...Array(146).fill(0x80), 0x7f] : [...Array(150).fill(0x80), 0x01];
}

/** Boundary numbers as lib0 varuints, and −0 as a signed varint (sign bit, value 0). */
export const BOUNDARY_VARINTS: readonly (readonly number[])[] = [
  varUint(0),
  varUint(1),
  varUint(127),
  varUint(128),
  varUint(2 ** 31),
  varUint(2 ** 32),
  varUint(2 ** 32 + 1),
  varUint(2 ** 53 - 1),
  varUint(2 ** 53),
  overlongVarUint('Infinity'),
  overlongVarUint('NaN'),
  [0x40],
];

function float64(value: number): number[] {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleBE(value);
  return [...bytes];
}

/** lib0 `writeAny` values a map may hold: tag, then the value. */
const ANY_VALUES: readonly (readonly number[])[] = [
  [125, 0x40], // varint −0
  [123, ...float64(-0)],
  [123, ...float64(Number.NaN)],
  [123, ...float64(Number.POSITIVE_INFINITY)],
  [123, ...float64(1.5)],
  [123, ...float64(2 ** 53 + 2)],
  [124, 0x7f, 0xc0, 0, 0], // float32 NaN
  [122, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // bigint
  [119, 1, 0x78], // string "x"
  [118, 0], // {}
  [117, 0], // []
  [116, 0], // Uint8Array
  [121],
  [120],
  [126],
  [127],
  // Struct headers: a GC (info 0), deleted content (1) or a skip (10), with boundary lengths.
  [0, ...varUint(2 ** 53)],
  [0, ...overlongVarUint('Infinity')],
  [0, ...overlongVarUint('NaN')],
  [1, ...varUint(2 ** 53 - 1)],
  [10, ...overlongVarUint('NaN')],
];

const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];

/** Strings that reach odd corners of URL parsing, header parsing and the JSON bodies. */
const HTTP_TOKENS: readonly (readonly number[])[] = [
  '%zz',
  '%',
  '%00',
  '%2F',
  '%2e%2e',
  '//',
  'http://[',
  'http://x',
  '/../',
  '?token=',
  '#',
  '\r\n',
  '\n',
  ' ',
  '\t',
  '\x00',
  '\xff',
  'é',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 99999999999\r\n',
  'Content-Length: -1\r\n',
  'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
  'Expect: 100-continue\r\n',
  'Authorization: Bearer {{API_KEY}}\r\n',
  'Authorization: Basic {{API_KEY}}\r\n',
  'HTTP/1.0',
  'HTTP/2.0',
  'GET',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'HEAD',
  '/v1/sync/',
  '/v1/accounts/',
  '/healthz',
  '/metrics',
  '-1',
  '1e309',
  'NaN',
  '9007199254740993',
  '1.5',
  'null',
  '[]',
  '{}',
  '"__proto__"',
  '{"__proto__":{"count":1}}',
  'x'.repeat(200),
  'a'.repeat(9000),
].map(ascii);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'CONNECT', 'TRACE', 'get', 'FOO'];

/** Path segments: bad and odd escapes, dots, empty, too long, unusual but valid IDs. */
const SEGMENTS = [
  '%zz',
  '%',
  '%0',
  '%00',
  '%2F',
  '%2f..%2f',
  '%C3%28',
  '%E2%82%AC',
  '%25',
  '..',
  '.',
  '',
  'a'.repeat(129),
  'a'.repeat(128),
  '@server',
  'x%20y',
  'fz0',
  'ann',
  '\xf0\x9f\x99\x82',
];

/** Whole request targets: the origin-form's edges, absolute-form, asterisk-form. */
const TARGETS = [
  '/',
  '//',
  '*',
  '',
  'http://[',
  'http://x/v1/accounts/ann/badge',
  'http://127.0.0.1/v1/sync/ann',
  '/v1/sync/',
  '/v1/sync//',
  '/v1/accounts//badge',
  '/v1/accounts/ann/devices/',
  '/healthz?x=1',
  '/metrics/',
  '/v1/../healthz',
];

/** One mutation; positions are taken modulo the input's length. */
export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'set'; readonly at: number; readonly value: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | { readonly kind: 'delete'; readonly at: number; readonly length: number }
  | {
      readonly kind: 'splice';
      readonly at: number;
      readonly donor: number;
      readonly from: number;
      readonly length: number;
    }
  | { readonly kind: 'varint'; readonly at: number; readonly which: number }
  | { readonly kind: 'token'; readonly at: number; readonly which: number; readonly replace: boolean }
  | { readonly kind: 'line'; readonly at: number; readonly duplicate: boolean }
  | { readonly kind: 'request'; readonly part: number; readonly at: number; readonly which: number }
  | { readonly kind: 'fixLength' };

const at = fc.nat();
const byteMutations = [
  fc.record({ kind: fc.constant('flip' as const), at, bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at, value: fc.nat({ max: 255 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at,
    bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    kind: fc.constant('splice' as const),
    at,
    donor: fc.nat(),
    from: fc.nat(),
    length: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({ kind: fc.constant('varint' as const), at, which: fc.nat() }),
];

export const httpMutation: fc.Arbitrary<Mutation> = fc.oneof(
  ...byteMutations,
  fc.record({ kind: fc.constant('token' as const), at, which: fc.nat(), replace: fc.boolean() }),
  fc.record({ kind: fc.constant('line' as const), at, duplicate: fc.boolean() }),
  fc.record({ kind: fc.constant('request' as const), part: fc.nat({ max: 2 }), at, which: fc.nat() }),
  fc.constant({ kind: 'fixLength' as const }),
);

export const payloadMutation: fc.Arbitrary<Mutation> = fc.oneof(
  ...byteMutations,
  // Twice: boundary numbers are where the decoders and the write rules were found wanting.
  fc.record({ kind: fc.constant('varint' as const), at, which: fc.nat() }),
  fc.record({ kind: fc.constant('token' as const), at, which: fc.nat(), replace: fc.boolean() }),
);

/** Where each varint starts when `bytes` is read as varints from the first byte. */
function varintStarts(bytes: readonly number[]): number[] {
  const starts: number[] = [];
  let next = true;
  for (let i = 0; i < bytes.length; i++) {
    if (next) starts.push(i);
    next = (bytes[i] as number) < 0x80;
  }
  return starts;
}

/** The varint starting at `at`: its byte length (1 when the bytes run out). */
function varintLength(bytes: readonly number[], at: number): number {
  let end = at;
  while (end < bytes.length && (bytes[end] as number) >= 0x80) end++;
  return Math.min(end, bytes.length - 1) - at + 1;
}

/**
 * Applies `mutations` to `input`. `donors` feed splices; `dictionary` feeds tokens (the
 * HTTP strings, or the lib0 `any` values for payloads).
 */
export function mutate(
  input: Uint8Array,
  mutations: readonly Mutation[],
  donors: readonly Uint8Array[],
  dictionary: 'http' | 'payload',
): Uint8Array {
  let bytes = [...input];
  const tokens = dictionary === 'http' ? HTTP_TOKENS : ANY_VALUES;
  for (const m of mutations) {
    const pos = bytes.length === 0 ? 0 : (m.kind === 'fixLength' ? 0 : m.at) % (bytes.length + 1);
    switch (m.kind) {
      case 'flip':
        if (pos < bytes.length) bytes[pos] = (bytes[pos] as number) ^ (1 << m.bit);
        break;
      case 'set':
        if (pos < bytes.length) bytes[pos] = m.value;
        break;
      case 'insert':
        bytes.splice(pos, 0, ...m.bytes);
        break;
      case 'delete':
        bytes.splice(pos, m.length);
        break;
      case 'splice': {
        const donor = donors.length === 0 ? input : (donors[m.donor % donors.length] as Uint8Array);
        const from = donor.length === 0 ? 0 : m.from % donor.length;
        bytes.splice(pos, 0, ...donor.subarray(from, from + m.length));
        break;
      }
      case 'varint': {
        // Read as a run of varints from the start, `at` picks one: in a Yjs update's headers
        // (client, clock, lengths, delete ranges) these are the numbers the decoder reads.
        const starts = varintStarts(bytes);
        const start = starts.length === 0 ? 0 : (starts[m.at % starts.length] as number);
        const value = BOUNDARY_VARINTS[m.which % BOUNDARY_VARINTS.length] as readonly number[];
        const length = start < bytes.length ? varintLength(bytes, start) : 0;
        bytes.splice(start, length, ...value);
        break;
      }
      case 'token': {
        const token = tokens[m.which % tokens.length] as readonly number[];
        bytes.splice(pos, m.replace ? token.length : 0, ...token);
        break;
      }
      case 'line':
        bytes = mutateLine(bytes, m.at, m.duplicate);
        break;
      case 'fixLength':
        bytes = fixContentLength(bytes);
        break;
      case 'request':
        bytes = mutateRequestLine(bytes, m.part, m.at, m.which);
        break;
    }
  }
  return Uint8Array.from(bytes);
}

/**
 * Rewrites the request line `METHOD target version`: part 0 swaps the method, part 1 one
 * path segment, part 2 the whole target. The query (a token) stays.
 */
function mutateRequestLine(bytes: number[], part: number, at: number, which: number): number[] {
  const text = Buffer.from(bytes).toString('latin1');
  const end = text.indexOf('\r\n');
  const line = /^(\S*) (\S*) (.*)$/.exec(end < 0 ? text : text.slice(0, end));
  if (line === null) return bytes;
  let [, method = '', target = '', version = ''] = line;
  const query = target.includes('?') ? target.slice(target.indexOf('?')) : '';
  const path = target.slice(0, target.length - query.length);
  if (part === 0) method = METHODS[which % METHODS.length] as string;
  if (part === 1) {
    const segments = path.split('/');
    segments[1 + (at % Math.max(1, segments.length - 1))] = SEGMENTS[which % SEGMENTS.length] as string;
    target = `${segments.join('/')}${query}`;
  }
  if (part === 2) target = `${TARGETS[which % TARGETS.length] as string}${query}`;
  return ascii(`${method} ${target} ${version}${end < 0 ? '' : text.slice(end)}`);
}

/** Duplicates or removes one CRLF-terminated line (a header, the request line). */
function mutateLine(bytes: number[], which: number, duplicate: boolean): number[] {
  const text = Buffer.from(bytes).toString('latin1');
  const lines = text.split('\r\n');
  const index = which % lines.length;
  if (duplicate) lines.splice(index, 0, lines[index] as string);
  else lines.splice(index, 1);
  return ascii(lines.join('\r\n'));
}

/** Rewrites Content-Length to the length of what follows the first blank line. */
function fixContentLength(bytes: number[]): number[] {
  const text = Buffer.from(bytes).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return bytes;
  const body = text.length - end - 4;
  const head = text.slice(0, end).replace(/\r\ncontent-length:[^\r]*/gi, '');
  return ascii(`${head}\r\ncontent-length: ${body}${text.slice(end)}`);
}

/** A y-websocket frame split into its header (type, sub-type) and length-prefixed payload. */
export function splitSyncFrame(frame: Uint8Array): { header: Uint8Array; payload: Uint8Array } | null {
  // Sync frames [0, sub, len, payload] and awareness frames [1, len, payload]; types and
  // sub-types are single bytes in every frame a client sends.
  const headerLength = frame[0] === 0 ? 2 : frame[0] === 1 ? 1 : -1;
  if (headerLength < 0 || frame.length <= headerLength) return null;
  let length = 0;
  let scale = 1;
  let at = headerLength;
  for (;;) {
    const byte = frame[at++];
    if (byte === undefined || at - headerLength > 8) return null;
    length += (byte & 0x7f) * scale;
    if (byte < 0x80) break;
    scale *= 128;
  }
  if (at + length !== frame.length) return null;
  return { header: frame.subarray(0, headerLength), payload: frame.subarray(at) };
}

export function joinSyncFrame(header: Uint8Array, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...header, ...varUint(payload.length), ...payload]);
}

/** How a sync input (one connection's frames) is changed. */
export interface SyncPlan {
  /** Which frame the byte mutations hit. */
  readonly frame: number;
  /** Mutate the payload and rewrite the length (true), or the raw frame (false). */
  readonly inPayload: boolean;
  readonly mutations: readonly Mutation[];
  /** Frame-list edits after the byte mutations. */
  readonly edit: 'none' | 'drop' | 'duplicate' | 'swap' | 'graft';
  readonly editAt: number;
  readonly donor: number;
}

export const syncPlan: fc.Arbitrary<SyncPlan> = fc.record({
  frame: fc.nat(),
  inPayload: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  mutations: fc.array(payloadMutation, { minLength: 1, maxLength: 3 }),
  edit: fc.oneof(
    { weight: 6, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constantFrom('drop' as const, 'duplicate' as const, 'swap' as const, 'graft' as const) },
  ),
  editAt: fc.nat(),
  donor: fc.nat(),
});

/** Applies a plan to one connection's frames; `donors` are other inputs' frames. */
export function mutateFrames(
  frames: readonly Uint8Array[],
  plan: SyncPlan,
  donors: readonly Uint8Array[],
): Uint8Array[] {
  const out = [...frames];
  if (out.length === 0) return out;
  // Half the time the last frame: a hand seed's construct, or a session's latest edit.
  const index = plan.frame % 2 === 0 ? out.length - 1 : Math.floor(plan.frame / 2) % out.length;
  const frame = out[index] as Uint8Array;
  const split = plan.inPayload ? splitSyncFrame(frame) : null;
  if (split !== null) {
    const payloadDonors = donors.map((d) => splitSyncFrame(d)?.payload ?? d);
    out[index] = joinSyncFrame(split.header, mutate(split.payload, plan.mutations, payloadDonors, 'payload'));
  } else {
    out[index] = mutate(frame, plan.mutations, donors, 'payload');
  }
  const other = donors.length === 0 ? frame : (donors[plan.donor % donors.length] as Uint8Array);
  const editAt = plan.editAt % out.length;
  if (plan.edit === 'drop' && out.length > 1) out.splice(editAt, 1);
  if (plan.edit === 'duplicate') out.splice(editAt, 0, out[editAt] as Uint8Array);
  if (plan.edit === 'swap') out.splice(editAt, 2, ...out.slice(editAt, editAt + 2).reverse());
  if (plan.edit === 'graft') out.splice(editAt, 0, other);
  return out;
}
