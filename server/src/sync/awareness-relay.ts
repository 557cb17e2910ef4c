/**
 * Awareness (SPEC SYNC-6): relayed between an account's connections, never stored. The
 * relay keeps only the latest state per Yjs client ID, so a device that joins sees who is
 * there, and a device that leaves is announced gone. A hand-written codec instead of
 * y-protocols' Awareness, which runs a timer per instance (one per loaded account).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';

interface Entry {
  clock: number;
  state: string;
  owner: object;
}

export interface AwarenessChange {
  readonly clientId: number;
  readonly clock: number;
  readonly state: string;
}

/** Decodes an awareness update: varuint count, then (clientID, clock, JSON state) each. */
export function decodeAwareness(update: Uint8Array): AwarenessChange[] {
  const decoder = decoding.createDecoder(update);
  const count = decoding.readVarUint(decoder);
  const changes: AwarenessChange[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = decoding.readVarUint(decoder);
    const clock = decoding.readVarUint(decoder);
    const state = decoding.readVarString(decoder);
    JSON.parse(state);
    changes.push({ clientId, clock, state });
  }
  if (decoding.hasContent(decoder)) throw new Error('trailing bytes after the awareness update');
  return changes;
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

/** Most awareness client IDs one account keeps: a bound on what a hostile device can grow. */
const MAX_AWARENESS_CLIENTS = 256;

export class AwarenessRelay {
  readonly #entries = new Map<number, Entry>();

  /**
   * Records an update from `owner` (a session). Returns the accepted update to broadcast,
   * or null when nothing in it was newer. Throws on a malformed update.
   */
  apply(owner: object, update: Uint8Array): Uint8Array | null {
    const accepted: AwarenessChange[] = [];
    for (const change of decodeAwareness(update)) {
      const current = this.#entries.get(change.clientId);
      if (current !== undefined && current.owner !== owner) continue;
      if (current !== undefined && current.clock > change.clock) continue;
      if (change.state === 'null') this.#entries.delete(change.clientId);
      else if (current !== undefined || this.#entries.size < MAX_AWARENESS_CLIENTS) {
        this.#entries.set(change.clientId, { clock: change.clock, state: change.state, owner });
      } else continue;
      accepted.push(change);
    }
    return accepted.length === 0 ? null : encodeAwarenessChanges(accepted);
  }

  /** All current states, for a device that joins; null when there are none. */
  snapshot(): Uint8Array | null {
    if (this.#entries.size === 0) return null;
    const changes: AwarenessChange[] = [];
    for (const [clientId, entry] of this.#entries) changes.push({ clientId, clock: entry.clock, state: entry.state });
    return encodeAwarenessChanges(changes);
  }

  /** Forgets `owner`'s states; returns the "gone" update to broadcast, or null. */
  removeOwner(owner: object): Uint8Array | null {
    const gone: AwarenessChange[] = [];
    for (const [clientId, entry] of this.#entries) {
      if (entry.owner !== owner) continue;
      this.#entries.delete(clientId);
      gone.push({ clientId, clock: entry.clock + 1, state: 'null' });
    }
    return gone.length === 0 ? null : encodeAwarenessChanges(gone);
  }
}
