/**
 * Budgets of one account's document (SPEC BUDGET-1..BUDGET-4): how much a signed-in device
 * may make the server hold and compute, checked after the write rules accepted an update
 * and before it is applied. The write rules say what a device may write; these say how much.
 *
 * Why each exists: Yjs integrates concurrent entries of one map key by scanning the entries
 * already there, so N concurrent writes of one key cost about N² steps — 20,000 fresh client
 * IDs writing `mutes["k"]` in one update stalled a server for 92.8 s, and every later load of
 * the account replayed it. Every client ID is also a persisted binding and an entry of every
 * state vector the server sends; every key is a struct kept for ever.
 *
 * Pure: reads the server's document, never changes it.
 */
import * as Y from 'yjs';
import type { RefusalReason } from './errors.js';
import { ROOT } from './v1/schema.js';

export interface DocumentBudgets {
  /** [BUDGET-1] Client IDs one update may use for the first time. */
  readonly newClientsPerUpdate: number;
  /** [BUDGET-1] Client IDs bound to one device in one account. */
  readonly clientsPerDevice: number;
  /** [BUDGET-1] Client IDs bound in one account, all devices and the server together. */
  readonly clientsPerAccount: number;
  /**
   * [BUDGET-2] Concurrent entries of one map key a write may make: the writes of the update
   * that follow the same previous value, plus the entries the server holds after that value.
   */
  readonly concurrentPerKey: number;
  /** [BUDGET-3] Keys of `mutes` one account may hold. */
  readonly mutesPerAccount: number;
  /** [BUDGET-3] Keys of `reads` one account may hold (threads × devices that read them). */
  readonly readsPerAccount: number;
}

/** What the budget check needs to know about the account besides its document. */
export interface BudgetContext {
  readonly doc: Y.Doc;
  readonly budgets: DocumentBudgets;
  /** Client IDs already bound to the writing device, and to the account in all. */
  readonly deviceClients: number;
  readonly accountClients: number;
}

export type BudgetVerdict =
  | { readonly kind: 'within' }
  | {
      readonly kind: 'over';
      readonly reason: Extract<RefusalReason, 'client_budget' | 'concurrent_writes' | 'key_budget'>;
      readonly budget: keyof DocumentBudgets;
      readonly detail: string;
    };

const WITHIN: BudgetVerdict = { kind: 'within' };

type Struct = Y.Item | Y.GC | Y.Skip;
type MapInternals = { _map: Map<string, Y.Item> };

/**
 * Checks an update the write rules accepted (`newClients`: the client IDs it uses first).
 * Costs O(size of the update + entries of the keys it writes concurrently).
 */
export function checkBudgets(ctx: BudgetContext, update: Uint8Array, newClients: number): BudgetVerdict {
  const { budgets } = ctx;
  if (newClients > budgets.newClientsPerUpdate) {
    return over('client_budget', 'newClientsPerUpdate', `${newClients} new client IDs in one update`);
  }
  if (newClients > 0 && ctx.deviceClients + newClients > budgets.clientsPerDevice) {
    return over('client_budget', 'clientsPerDevice', `${ctx.deviceClients + newClients} client IDs for this device`);
  }
  if (newClients > 0 && ctx.accountClients + newClients > budgets.clientsPerAccount) {
    return over('client_budget', 'clientsPerAccount', `${ctx.accountClients + newClients} client IDs in the account`);
  }
  const { structs } = Y.decodeUpdate(update) as { structs: Struct[] };
  const store = ctx.doc.store;
  /** Fresh writes per previous value: `o<client>:<clock>` for an origin, `k<root>/<key>` without one. */
  const groups = new Map<string, { count: number; origin: Y.ID | null; root: string; key: string }>();
  /** Keys the update creates, per root. */
  const created = new Map<string, Set<string>>();
  for (const struct of structs) {
    if (!(struct instanceof Y.Item)) continue;
    // Known to the server (wholly or its first part): not a new write of a key.
    if (struct.id.clock < Y.getState(store, struct.id.client)) continue;
    const origin = struct.origin;
    let group: string;
    let root = '';
    let key = '';
    if (origin === null) {
      // The write rules guarantee a root and a key for an item without origins.
      root = String(struct.parent);
      key = struct.parentSub ?? '';
      group = `k${root}/${key}`;
      const entries = rootMap(ctx.doc, root);
      if (entries !== undefined && !entries.has(key)) {
        let keys = created.get(root);
        if (keys === undefined) {
          keys = new Set();
          created.set(root, keys);
        }
        keys.add(key);
      }
    } else {
      group = `o${origin.client}:${origin.clock}`;
    }
    const entry = groups.get(group);
    if (entry === undefined) groups.set(group, { count: 1, origin, root, key });
    else entry.count++;
  }
  for (const [root, budget, name] of [
    [ROOT.mutes, budgets.mutesPerAccount, 'mutesPerAccount'],
    [ROOT.reads, budgets.readsPerAccount, 'readsPerAccount'],
  ] as const) {
    const adds = created.get(root)?.size ?? 0;
    const held = rootMap(ctx.doc, root)?.size ?? 0;
    if (adds > 0 && held + adds > budget) {
      return over('key_budget', name, `${held + adds} ${root} keys in the account`);
    }
  }
  for (const group of groups.values()) {
    if (group.count > budgets.concurrentPerKey) {
      return over('concurrent_writes', 'concurrentPerKey', concurrentDetail(group, group.count));
    }
    const total = group.count + serverSiblings(ctx.doc, group, budgets.concurrentPerKey - group.count + 1);
    if (total > budgets.concurrentPerKey) {
      return over('concurrent_writes', 'concurrentPerKey', concurrentDetail(group, total));
    }
  }
  return WITHIN;
}

function over(
  reason: Extract<RefusalReason, 'client_budget' | 'concurrent_writes' | 'key_budget'>,
  budget: keyof DocumentBudgets,
  detail: string,
): BudgetVerdict {
  return { kind: 'over', reason, budget, detail };
}

function concurrentDetail(group: { origin: Y.ID | null; root: string; key: string }, n: number): string {
  const what =
    group.origin === null
      ? `${group.root}[${JSON.stringify(group.key.slice(0, 40))}] without a previous value`
      : `one key after ${group.origin.client}:${group.origin.clock}`;
  return `${n} concurrent writes of ${what}`;
}

function rootMap(doc: Y.Doc, root: string): Map<string, Y.Item> | undefined {
  const type = doc.share.get(root);
  return type === undefined ? undefined : (type as unknown as MapInternals)._map;
}

/**
 * Entries of the key the server holds that a write following `group.origin` (or no value)
 * is concurrent with, counted up to `enough`: every entry after that origin in the key's list
 * (a writer always follows the key's last entry, so an entry after the one it followed is one
 * it did not see), or every entry of the key for a write without an origin. Yjs scans these
 * to place the write; a write following an old entry of a long history scans all of it.
 */
function serverSiblings(doc: Y.Doc, group: { origin: Y.ID | null; root: string; key: string }, enough: number): number {
  let count = 0;
  if (group.origin === null) {
    for (
      let item = rootMap(doc, group.root)?.get(group.key) ?? null;
      item !== null && count < enough;
      item = item.left
    ) {
      count++;
    }
    return count;
  }
  const { client, clock } = group.origin;
  // An origin the update itself holds: the server has nothing after it.
  if (clock >= Y.getState(doc.store, client)) return 0;
  const found = Y.getItem(doc.store, group.origin);
  for (let item = found instanceof Y.Item ? found.right : null; item !== null && count < enough; item = item.right) {
    count++;
  }
  return count;
}
