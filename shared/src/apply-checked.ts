/**
 * Applies an update the write rules accepted from the structs they decoded (SPEC SYNC-15), so
 * the server decodes each update once. The same steps as Y.applyUpdate (yjs 13.6.33,
 * `readUpdateV2`: its `readClientsStructRefs`, `integrateStructs` and
 * `readAndApplyDeleteSet`, which Yjs does not export), through the methods Yjs does export:
 * `Item.getMissing`, `integrate`, `Y.getItemCleanStart`, `Item.delete`. What Yjs would keep
 * pending is not kept: it is reported as `dropped` (the write rules see to it that nothing
 * is; the room treats it as a fault). The differential fuzz of the write rules
 * (`shared/test/write-rules.fuzz.test.ts`) compares the result with Y.applyUpdate's on honest
 * and forged updates, and the room's (`server/test/room-write-rules.fuzz.test.ts`) with a
 * reference apply; the pin of yjs (RULE-17) keeps both the same.
 */
import * as Y from 'yjs';
import type { CheckedUpdate, DeleteSet, Struct } from './decoded-update.js';

type StructStore = Y.Doc['store'];
/** One client's structs and the next one to integrate, as Yjs keeps them. */
interface ClientRefs {
  i: number;
  refs: Struct[];
}

/** What applying changed. */
export interface Applied {
  /** The document changed (a struct added or an id deleted). */
  readonly changed: boolean;
  /** Something Yjs could not place (missing dependencies): not applied, not kept pending. */
  readonly dropped: boolean;
  /** The document's state vector before the apply. */
  readonly before: ReadonlyMap<number, number>;
}

/** Applying threw; `changed` says whether it changed the document first (a partial apply). */
export class ApplyFailure extends Error {
  constructor(
    readonly reason: unknown,
    readonly changed: boolean,
  ) {
    super(reason instanceof Error ? reason.message : String(reason));
  }
}

/**
 * Applies `update` to `doc` in one transaction of `origin` (not local, like Y.applyUpdate).
 * Throws ApplyFailure when Yjs throws; the transaction's observers and 'update' event run
 * either way. The update's structs become the document's: do not read them afterwards.
 */
export function applyChecked(doc: Y.Doc, update: CheckedUpdate, origin: unknown): Applied {
  const store = doc.store;
  if (store.pendingStructs !== null || store.pendingDs !== null) {
    // Yjs would try what it holds pending as well; only Y.applyUpdate does that.
    return applyBytes(doc, update.bytes, origin);
  }
  let transaction: Y.Transaction | null = null;
  let dropped = false;
  try {
    Y.transact(
      doc,
      (tr) => {
        transaction = tr;
        tr.local = false;
        const refs = clientRefs(doc, update.structs);
        const restStructs = integrateStructs(tr, store, refs);
        const restDeletes = applyDeletes(tr, store, update.deletes);
        dropped = restStructs || restDeletes;
      },
      origin,
      false,
    );
  } catch (err) {
    throw new ApplyFailure(err, transaction !== null && changedBy(transaction));
  }
  const done = transaction as unknown as Y.Transaction;
  return { changed: changedBy(done), dropped, before: done.beforeState };
}

/** Y.applyUpdate, with the same report (anything it leaves pending counts as dropped). */
function applyBytes(doc: Y.Doc, bytes: Uint8Array, origin: unknown): Applied {
  let transaction: Y.Transaction | null = null;
  const store = doc.store;
  const pendingBefore = store.pendingStructs !== null || store.pendingDs !== null;
  try {
    Y.transact(
      doc,
      (tr) => {
        transaction = tr;
        Y.applyUpdate(doc, bytes, origin);
      },
      origin,
      false,
    );
  } catch (err) {
    throw new ApplyFailure(err, transaction !== null && changedBy(transaction));
  }
  const done = transaction as unknown as Y.Transaction;
  const dropped = pendingBefore || store.pendingStructs !== null || store.pendingDs !== null;
  return { changed: changedBy(done), dropped, before: done.beforeState };
}

/** Whether a finished transaction changed the document (Yjs's own test before an 'update'). */
function changedBy(tr: Y.Transaction): boolean {
  if (tr.deleteSet.clients.size > 0) return true;
  for (const [client, clock] of tr.afterState) if (tr.beforeState.get(client) !== clock) return true;
  return false;
}

/**
 * `readClientsStructRefs` from decoded structs: per client, its structs in order; an item's
 * root name becomes the root type (`doc.get`, which creates it, as Yjs does while decoding).
 */
function clientRefs(doc: Y.Doc, structs: readonly Struct[]): Map<number, ClientRefs> {
  const byClient = new Map<number, ClientRefs>();
  let current: ClientRefs | null = null;
  let currentClient = -1;
  for (const struct of structs) {
    if (struct instanceof Y.Item && typeof struct.parent === 'string') {
      struct.parent = doc.get(struct.parent as string);
    }
    const client = struct.id.client;
    if (current === null || client !== currentClient) {
      // The write rules refused a client in two blocks ([RULE-12]); Yjs keeps the last one.
      current = { i: 0, refs: [] };
      currentClient = client;
      byClient.set(client, current);
    }
    current.refs.push(struct);
  }
  return byClient;
}

/**
 * Yjs's `integrateStructs`: integrates each client's structs in order, highest client first,
 * each after the structs its origins wait on. Returns whether some could not be placed.
 */
function integrateStructs(transaction: Y.Transaction, store: StructStore, refsOf: Map<number, ClientRefs>): boolean {
  const stack: Struct[] = [];
  let clients = [...refsOf.keys()].sort((a, b) => a - b);
  let target = nextTarget(clients, refsOf);
  if (target === null) return false;
  let rest = false;
  const state = new Map<number, number>();
  let head = target.refs[target.i++] as Struct;
  while (true) {
    if (head.constructor !== Y.Skip) {
      const client = head.id.client;
      let localClock = state.get(client);
      if (localClock === undefined) {
        localClock = Y.getState(store, client);
        state.set(client, localClock);
      }
      const offset = localClock - head.id.clock;
      if (offset < 0) {
        // A gap before it: Yjs would keep it (and what waits on it) pending.
        stack.push(head);
        clients = stackToRest(stack, refsOf, clients);
        rest = true;
      } else {
        const missing = head.getMissing(transaction, store);
        if (missing !== null) {
          stack.push(head);
          const refs = refsOf.get(missing);
          if (refs === undefined || refs.refs.length === refs.i) {
            clients = stackToRest(stack, refsOf, clients);
            rest = true;
          } else {
            head = refs.refs[refs.i++] as Struct;
            continue;
          }
        } else if (offset === 0 || offset < head.length) {
          head.integrate(transaction, offset);
          state.set(client, head.id.clock + head.length);
        }
      }
    }
    if (stack.length > 0) {
      head = stack.pop() as Struct;
    } else if (target !== null && target.i < target.refs.length) {
      head = target.refs[target.i++] as Struct;
    } else {
      target = nextTarget(clients, refsOf);
      if (target === null) break;
      head = target.refs[target.i++] as Struct;
    }
  }
  return rest;
}

/** The structs of the highest client with structs left (Yjs's `getNextStructTarget`); drops finished clients. */
function nextTarget(clients: number[], refsOf: Map<number, ClientRefs>): ClientRefs | null {
  while (clients.length > 0) {
    const target = refsOf.get(clients[clients.length - 1] as number) as ClientRefs;
    if (target.refs.length !== target.i) return target;
    clients.pop();
  }
  return null;
}

/**
 * Yjs's `addStackToRestSS`: the clients of the structs on the stack are given up (Yjs keeps
 * their rest pending). Empties the stack; returns the clients still to integrate.
 */
function stackToRest(stack: Struct[], refsOf: Map<number, ClientRefs>, clients: number[]): number[] {
  let left = clients;
  for (const struct of stack) {
    const client = struct.id.client;
    const inapplicable = refsOf.get(client);
    if (inapplicable !== undefined) {
      refsOf.delete(client);
      inapplicable.i = 0;
      inapplicable.refs = [];
    }
    left = left.filter((c) => c !== client);
  }
  stack.length = 0;
  return left;
}

/**
 * Yjs's `readAndApplyDeleteSet`: deletes every live item in the ranges, splitting the first
 * and the last where a range starts or ends inside them. Returns whether a range reached past
 * what the document has (Yjs would keep that part pending).
 */
function applyDeletes(transaction: Y.Transaction, store: StructStore, ds: DeleteSet): boolean {
  let rest = false;
  for (const [client, ranges] of ds.clients) {
    const structs = (store.clients.get(client) ?? []) as Array<Y.Item | Y.GC>;
    const state = Y.getState(store, client);
    for (const range of ranges) {
      const clock = range.clock;
      const clockEnd = clock + range.len;
      if (clock >= state) {
        rest = true;
        continue;
      }
      if (state < clockEnd) rest = true;
      let index = Y.findIndexSS(structs, clock);
      let struct = structs[index] as Y.Item | Y.GC;
      if (!struct.deleted && struct.id.clock < clock) {
        // Splits the item at `clock` and inserts its right part after it (Yjs's splitItem).
        Y.getItemCleanStart(transaction, Y.createID(client, clock));
        index++;
      }
      while (index < structs.length) {
        struct = structs[index++] as Y.Item | Y.GC;
        if (struct.id.clock >= clockEnd) break;
        if (struct.deleted) continue;
        if (clockEnd < struct.id.clock + struct.length) Y.getItemCleanStart(transaction, Y.createID(client, clockEnd));
        (struct as Y.Item).delete(transaction);
      }
    }
  }
  return rest;
}
