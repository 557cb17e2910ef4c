/**
 * Awareness (SPEC SYNC-6, AWARE-1..AWARE-5): relayed between an account's connections, never
 * stored. The relay keeps only the latest state per Yjs client ID, so a device that joins
 * sees who is there, and a device that leaves is announced gone. A hand-written codec
 * instead of y-protocols' Awareness, which runs a timer per instance (one per loaded account).
 *
 * Everything it holds is bounded: bytes per state, bytes per account, states and new client
 * IDs per connection, entries per message. A joiner's snapshot and a query-awareness answer
 * are encoded once per change and cost no more than the states held.
 */

import type { AwarenessDropReason } from '@badgesync/shared';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

export interface AwarenessBudget {
  /** Largest state, in UTF-8 bytes of its JSON; a device that sends more is closed (4413). */
  readonly stateBytes: number;
  /** Bytes of states one account holds; states beyond it are dropped, not relayed. */
  readonly accountBytes: number;
  /** States one connection holds, and client IDs it may newly claim (4413 beyond). */
  readonly clientsPerConnection: number;
}

/** The defaults of the settings (server/src/config.ts says why each). */
export const DEFAULT_AWARENESS_BUDGET: AwarenessBudget = {
  stateBytes: 8_192,
  accountBytes: 65_536,
  clientsPerConnection: 4,
};

/**
 * Most awareness client IDs one account keeps. With the byte budget this bounds the map's
 * overhead too (tiny states would otherwise be cheap in bytes and costly in entries).
 */
export const MAX_AWARENESS_CLIENTS = 256;
/**
 * Most entries one awareness message may carry: a stock provider re-sends every state it
 * has seen changed (at most the account's 256, plus its own); more is not an honest message.
 */
export const MAX_AWARENESS_ENTRIES = 2 * MAX_AWARENESS_CLIENTS;

/** The `null` state of a client that left. */
const GONE = 'null';

interface Entry {
  clock: number;
  state: string;
  bytes: number;
  owner: object;
}

export interface AwarenessChange {
  readonly clientId: number;
  readonly clock: number;
  readonly state: string;
}

/** A client ID as the sending device may use it: its own, another's (or the server's), or unbound. */
export type ClientClaim = 'own' | 'foreign' | 'free';

/** Why an awareness entry was not relayed (a metric label); the connection stays. */
export type AwarenessDrop = AwarenessDropReason;

/** Which budget an over-budget awareness message broke (a metric label). */
export type AwarenessBudgetHit = 'state_bytes' | 'message_entries' | 'connection_clients';

export type AwarenessResult =
  | {
      readonly kind: 'ok';
      /** The accepted changes, to relay; null when nothing in the update was accepted. */
      readonly relay: Uint8Array | null;
      /** Unbound client IDs this update claimed for the device: bind them. */
      readonly claimed: readonly number[];
      readonly dropped: ReadonlyMap<AwarenessDrop, number>;
    }
  | { readonly kind: 'over-budget'; readonly budget: AwarenessBudgetHit; readonly reason: string }
  | { readonly kind: 'malformed'; readonly reason: string };

class Malformed extends Error {}

interface RawChange {
  readonly clientId: number;
  readonly clock: number;
  readonly state: Uint8Array;
}

/** Decodes an awareness update without decoding states: varuint count, then (clientID, clock, JSON). */
function decodeRaw(update: Uint8Array): RawChange[] {
  const changes: RawChange[] = [];
  try {
    const decoder = decoding.createDecoder(update);
    const count = decoding.readVarUint(decoder);
    if (count > MAX_AWARENESS_ENTRIES) throw new RangeError(`${count} entries`);
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(decoder);
      const clock = decoding.readVarUint(decoder);
      const state = decoding.readVarUint8Array(decoder);
      if (!Number.isSafeInteger(clientId) || !Number.isSafeInteger(clock)) throw new Malformed('a client ID or clock');
      changes.push({ clientId, clock, state });
    }
    if (decoding.hasContent(decoder)) throw new Malformed('trailing bytes after the awareness update');
  } catch (err) {
    if (err instanceof RangeError) throw err;
    throw err instanceof Malformed ? err : new Malformed('a truncated awareness update');
  }
  return changes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The state's JSON text; throws Malformed when it is not UTF-8 JSON. */
function stateText(bytes: Uint8Array): string {
  try {
    const text = utf8.decode(bytes);
    JSON.parse(text);
    return text;
  } catch {
    throw new Malformed('an awareness state that is not JSON');
  }
}

export function encodeAwarenessChanges(changes: Iterable<AwarenessChange>): Uint8Array {
  const list = [...changes];
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, list.length);
  for (const change of list) {
    encoding.writeVarUint(encoder, change.clientId);
    encoding.writeVarUint(encoder, change.clock);
    encoding.writeVarString(encoder, change.state);
  }
  return encoding.toUint8Array(encoder);
}

export class AwarenessRelay {
  readonly #entries = new Map<number, Entry>();
  /** Per connection: the client IDs whose states it holds, and how many IDs it claimed. */
  readonly #connections = new Map<object, { held: Set<number>; claimed: number }>();
  #bytes = 0;
  /** The encoded snapshot, rebuilt only after a change (undefined: stale). */
  #snapshot: Uint8Array | null | undefined = null;

  constructor(readonly budget: AwarenessBudget) {}

  /** Bytes of states held now (at most `budget.accountBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Records an update from `owner` (a connection of one device), where `claim` says whose
   * each client ID is. Entries under another device's client IDs are dropped (a stock
   * provider re-sends every state it receives, so they are not a reason to close); a state
   * over the per-state budget, or an update that would claim more client IDs than a
   * connection may, is over budget (close 4413); a state beyond the account's budget is
   * dropped. Nothing of an over-budget or malformed update is kept.
   */
  apply(owner: object, update: Uint8Array, claim: (clientId: number) => ClientClaim): AwarenessResult {
    let raw: RawChange[];
    try {
      raw = decodeRaw(update);
    } catch (err) {
      if (err instanceof RangeError) {
        return {
          kind: 'over-budget',
          budget: 'message_entries',
          reason: `more than ${MAX_AWARENESS_ENTRIES} awareness entries in one message`,
        };
      }
      return { kind: 'malformed', reason: `malformed awareness: ${(err as Error).message}` };
    }
    const connection = this.#connections.get(owner) ?? { held: new Set<number>(), claimed: 0 };
    // First pass: refuse the whole update before anything is kept.
    const wanted: Array<{ change: AwarenessChange; bytes: number; claim: ClientClaim }> = [];
    const dropped = new Map<AwarenessDrop, number>();
    const drop = (why: AwarenessDrop) => dropped.set(why, (dropped.get(why) ?? 0) + 1);
    let claims = 0;
    for (const change of raw) {
      const whose = claim(change.clientId);
      if (whose === 'foreign') {
        drop('foreign_awareness_id');
        continue;
      }
      const current = this.#entries.get(change.clientId);
      if (current !== undefined && current.owner !== owner) {
        drop('other_connection');
        continue;
      }
      if (change.state.length > this.budget.stateBytes) {
        return {
          kind: 'over-budget',
          budget: 'state_bytes',
          reason: `an awareness state of ${change.state.length} bytes (at most ${this.budget.stateBytes})`,
        };
      }
      let state: string;
      try {
        state = stateText(change.state);
      } catch (err) {
        return { kind: 'malformed', reason: `malformed awareness: ${(err as Error).message}` };
      }
      if (state === GONE && current === undefined) continue; // nothing to remove: not relayed
      if (whose === 'free' && state !== GONE && !wanted.some((w) => w.change.clientId === change.clientId)) {
        claims++;
        if (connection.claimed + claims > this.budget.clientsPerConnection) {
          return {
            kind: 'over-budget',
            budget: 'connection_clients',
            reason: `more than ${this.budget.clientsPerConnection} awareness client IDs on one connection`,
          };
        }
      }
      wanted.push({
        change: { clientId: change.clientId, clock: change.clock, state },
        bytes: change.state.length,
        claim: whose,
      });
    }
    // Second pass: keep what fits.
    const accepted: AwarenessChange[] = [];
    const claimed: number[] = [];
    for (const { change, bytes, claim: whose } of wanted) {
      const current = this.#entries.get(change.clientId);
      if (current !== undefined && current.owner !== owner) continue; // taken earlier in this update
      if (current !== undefined && current.clock > change.clock) continue;
      if (change.state === GONE) {
        if (current === undefined) continue;
        this.#remove(change.clientId, current);
        accepted.push(change);
        continue;
      }
      const held = current === undefined ? 0 : current.bytes;
      if (current === undefined && this.#entries.size >= MAX_AWARENESS_CLIENTS) {
        drop('account_clients');
        continue;
      }
      if (current === undefined && connection.held.size >= this.budget.clientsPerConnection) {
        drop('connection_states');
        continue;
      }
      if (this.#bytes - held + bytes > this.budget.accountBytes) {
        drop('account_bytes');
        continue;
      }
      if (whose === 'free' && !claimed.includes(change.clientId)) claimed.push(change.clientId);
      this.#bytes += bytes - held;
      this.#entries.set(change.clientId, { clock: change.clock, state: change.state, bytes, owner });
      connection.held.add(change.clientId);
      this.#connections.set(owner, connection);
      this.#snapshot = undefined;
      accepted.push(change);
    }
    connection.claimed += claimed.length;
    if (connection.claimed > 0 || connection.held.size > 0) this.#connections.set(owner, connection);
    return {
      kind: 'ok',
      relay: accepted.length === 0 ? null : encodeAwarenessChanges(accepted),
      claimed,
      dropped,
    };
  }

  #remove(clientId: number, entry: Entry): void {
    this.#entries.delete(clientId);
    this.#bytes -= entry.bytes;
    this.#connections.get(entry.owner)?.held.delete(clientId);
    this.#snapshot = undefined;
  }

  /**
   * All current states, for a device that joins or asks; null when there are none. Encoded
   * once per change: a query costs a lookup, and its answer is at most the account's budget
   * plus a few bytes per entry.
   */
  snapshot(): Uint8Array | null {
    if (this.#snapshot !== undefined) return this.#snapshot;
    const changes: AwarenessChange[] = [];
    for (const [clientId, entry] of this.#entries) changes.push({ clientId, clock: entry.clock, state: entry.state });
    this.#snapshot = changes.length === 0 ? null : encodeAwarenessChanges(changes);
    return this.#snapshot;
  }

  /** Forgets `owner`'s states; returns the "gone" update to broadcast, or null. */
  removeOwner(owner: object): Uint8Array | null {
    const connection = this.#connections.get(owner);
    this.#connections.delete(owner);
    if (connection === undefined) return null;
    const gone: AwarenessChange[] = [];
    for (const clientId of connection.held) {
      const entry = this.#entries.get(clientId);
      if (entry === undefined || entry.owner !== owner) continue;
      this.#remove(clientId, entry);
      gone.push({ clientId, clock: entry.clock + 1, state: GONE });
    }
    return gone.length === 0 ? null : encodeAwarenessChanges(gone);
  }
}
