/**
 * The server's own writes in cluster mode (docs/CLUSTER.md "Exact ingest and counts", SPEC
 * STORE-26, STORE-28): an ingest or an API read is made inside ClusterStore.exclusive, holding
 * the account's lock, on a replica that first caught up with the whole log — so two nodes
 * posting to one thread at once never compute the same head, and one idempotency key posted to
 * two nodes is applied once.
 */
import type { AccountId } from '@badgesync/shared';
import type { ClusterStore, CommittedSeq, ExclusiveResult, ExclusiveTail, WriteBatch } from '../store/index.js';
import { ServerClientLeaseLost } from '../store/server-client-lease-lost.js';
import type { AccountRoom, ServerArrays } from './account-room.js';

/** What the cluster node gives the API for its writes (the cluster link implements it). */
export interface ExactWrites {
  /** The shared store's exclusive transaction. */
  readonly exclusive: ClusterStore['exclusive'];
  /** The seq through which the room's replica holds the whole log (its watermark). */
  heldThrough(room: AccountRoom): number;
  /**
   * Applies the log's tail to the room (as another node's updates: relayed, not persisted) and
   * moves its watermark to `tail.lastSeq`. Called inside the transaction, on the work's turn.
   */
  applyTail(room: AccountRoom, tail: ExclusiveTail): void;
  /** The room's own write committed under these seqs: its watermark moves, the other nodes hear of it. */
  committed(room: AccountRoom, updates: readonly Uint8Array[], seqs: readonly CommittedSeq[]): void;
}

/** What a route writes once the replica is the whole log: a write (none: nothing to change), then its answer. */
export interface ServerDecision<T> {
  readonly write: ((arrays: ServerArrays) => void) | null;
  readonly answer: () => T;
}

export type ExactResult<T> =
  | { readonly kind: 'written'; readonly answer: T }
  | { readonly kind: 'stored'; readonly response: string };

/**
 * Runs `decide` (a route's checks and its write, on the caught-up replica; a throw writes
 * nothing) inside the account's exclusive transaction, with the answer stored under
 * `idempotency` in the same transaction. Answers the stored answer when another call (on any
 * node) answered the key first. Resolves once the write is durable and relayed.
 */
export async function writeExactly<T>(
  exact: ExactWrites,
  room: AccountRoom,
  idempotency: { readonly key: string; readonly notBefore: number } | null,
  decide: () => ServerDecision<T>,
): Promise<ExactResult<T>> {
  const account: AccountId = room.account;
  const held: { write?: ReturnType<AccountRoom['exclusiveWrite']> } = {};
  let result: ExclusiveResult<T>;
  // [CLUSTER-61] Fenced by the room's server client ID lease: committed only while it is the room's.
  const lease = room.serverLease;
  try {
    result = await exact.exclusive(
      account,
      {
        heldThrough: () => exact.heldThrough(room),
        ...(idempotency === null ? {} : { idempotency }),
        ...(lease === null ? {} : { serverClient: lease }),
      },
      (tail) => {
        exact.applyTail(room, tail);
        const decision = decide();
        const write = room.exclusiveWrite(decision.write ?? (() => {}));
        held.write = write;
        const answer = decision.answer();
        const batch: WriteBatch = {
          updates: write.updates.map((update) => ({ account, update })),
          counts: write.counts === null ? [] : [{ account, counts: write.counts }],
          bindings: write.bindings.map(({ clientId, device }) => ({ account, clientId, device })),
          idempotency:
            idempotency === null
              ? []
              : [{ account, key: idempotency.key, response: JSON.stringify(answer), at: Date.now() }],
        };
        return { batch, answer };
      },
    );
  } catch (err) {
    // Nothing was written; a write the replica already holds must not stay there.
    held.write?.failed(err);
    if (err instanceof ServerClientLeaseLost) room.leaseLost();
    throw err;
  }
  if (result.kind === 'stored') return result;
  const write = held.write as NonNullable<typeof held.write>;
  exact.committed(room, write.updates, result.seqs);
  write.committed();
  return { kind: 'written', answer: result.answer };
}
