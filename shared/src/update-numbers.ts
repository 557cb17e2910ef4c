/**
 * The numbers of a Yjs update and of a state vector, checked before any write rule reads
 * them (SPEC RULE-15, RULE-16, SYNC-12).
 *
 * lib0's readVarUint returns integers of 2^53 and above (it checks the range only between
 * bytes, not after the last one), Infinity (an overlong varint of about 147 bytes) and NaN
 * (about 200). In doubles `clock + 1 === clock` at 2^53, NaN compares false to everything and
 * Yjs's encoder never finishes writing Infinity: the rules and Y.applyUpdate would each do
 * their own arithmetic with the same bytes and reach different documents. Every clock,
 * length and client ID that reaches the rules or Yjs is therefore checked here first, on
 * what Y.decodeUpdate read: Y.applyUpdate reads the same bytes with the same lib0 readers,
 * and the counts it reads but the decoded structs do not show (structs per block) are pinned
 * by the block check of the rules (one run of structs per announced block).
 */
import * as decoding from 'lib0/decoding';
import * as Y from 'yjs';

/** Yjs draws client IDs as random unsigned 32-bit integers; nothing honest is outside that. */
export const MAX_CLIENT_ID = 2 ** 32 - 1;

/**
 * How far one update may advance one client's clock past what the server has. An honest
 * update advances its client by one clock per map write since the last sync (overwritten
 * ones merge into runs of deleted content, a few bytes for any length): 16.7 million writes
 * between two syncs of one device is days of a write every 10 ms. The bound keeps every
 * clock far below 2^53 (2^29 maximal updates to get there under one client ID) so no sum
 * Yjs forms later (splits, merges, encodings) can round.
 */
export const MAX_CLOCK_ADVANCE = 2 ** 24;

type Struct = Y.Item | Y.GC | Y.Skip;
type DeleteSet = ReturnType<typeof Y.createDeleteSet>;

export function isClientId(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= MAX_CLIENT_ID;
}

export function isClock(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Why `clock`/`len` is not a range Yjs can hold exactly, or null. Written so NaN fails. */
function rangeProblem(clock: number, len: number): string | null {
  if (!isClock(clock)) return `clock ${clock} is not a safe non-negative integer`;
  if (!Number.isSafeInteger(len) || !(len >= 1)) return `length ${len} is not a safe integer of at least 1`;
  if (!(clock + len <= Number.MAX_SAFE_INTEGER)) return `clock ${clock} + length ${len} passes 2^53 − 1`;
  return null;
}

function idProblem(what: string, id: { client: number; clock: number }): string | null {
  if (!isClientId(id.client)) return `${what} client ${id.client} is not a 32-bit unsigned integer`;
  if (!isClock(id.clock)) return `${what} clock ${id.clock} is not a safe non-negative integer`;
  return null;
}

/**
 * [RULE-15] The first number of a decoded update that Yjs cannot apply exactly, described;
 * null when every number is in range. `blocks` is the update's block count.
 */
export function updateNumberProblem(structs: readonly Struct[], ds: DeleteSet, blocks: number): string | null {
  if (!Number.isSafeInteger(blocks) || blocks < 0) return `block count ${blocks}`;
  for (const struct of structs) {
    const { client, clock } = struct.id;
    const where = `struct ${client}:${clock}`;
    if (!isClientId(client)) return `${where}: client is not a 32-bit unsigned integer`;
    const range = rangeProblem(clock, struct.length);
    if (range !== null) return `${where}: ${range}`;
    if (!(struct instanceof Y.Item)) continue;
    for (const [what, id] of [
      ['origin', struct.origin],
      ['right origin', struct.rightOrigin],
      ['parent', struct.parent instanceof Y.ID ? struct.parent : null],
    ] as const) {
      const problem = id === null ? null : idProblem(what, id);
      if (problem !== null) return `${where}: ${problem}`;
    }
  }
  for (const [client, ranges] of ds.clients) {
    if (!isClientId(client)) return `delete set client ${client} is not a 32-bit unsigned integer`;
    for (const range of ranges) {
      const problem = rangeProblem(range.clock, range.len);
      if (problem !== null) return `delete range ${client}:${range.clock}: ${problem}`;
    }
  }
  return null;
}

/**
 * [RULE-16] The first struct (Skip structs included: they move the clock of what follows)
 * that reaches more than MAX_CLOCK_ADVANCE past the server's clock of its client, or null.
 * Call after updateNumberProblem, so every sum here is exact.
 */
export function clockAdvanceProblem(structs: readonly Struct[], state: (client: number) => number): string | null {
  for (const struct of structs) {
    const { client, clock } = struct.id;
    const advance = clock + struct.length - state(client);
    if (advance > MAX_CLOCK_ADVANCE) {
      return `struct ${client}:${clock} advances the client ${advance} clocks past the server's (at most ${MAX_CLOCK_ADVANCE})`;
    }
  }
  return null;
}

/**
 * [SYNC-12] Why a sync step 1 state vector is not one (truncated, trailing bytes, a client ID
 * outside 32 bits, a clock that is not a safe integer, a client twice), or null.
 */
export function stateVectorProblem(bytes: Uint8Array): string | null {
  try {
    const decoder = decoding.createDecoder(bytes);
    const count = decoding.readVarUint(decoder);
    if (!Number.isSafeInteger(count)) return `client count ${count}`;
    const seen = new Set<number>();
    for (let i = 0; i < count; i++) {
      const client = decoding.readVarUint(decoder);
      const clock = decoding.readVarUint(decoder);
      if (!isClientId(client)) return `client ${client} is not a 32-bit unsigned integer`;
      if (!isClock(clock)) return `clock ${clock} of client ${client} is not a safe non-negative integer`;
      if (seen.has(client)) return `client ${client} twice`;
      seen.add(client);
    }
    if (decoding.hasContent(decoder)) return 'trailing bytes after the state vector';
    return null;
  } catch (err) {
    return `truncated: ${(err as Error).message}`;
  }
}
