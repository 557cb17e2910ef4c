/**
 * Budgets of one account's document (SPEC BUDGET-1, BUDGET-4..BUDGET-7): how much a
 * signed-in device may make the server hold and compute, checked after the write rules
 * accepted an update and before it is applied. The write rules say what a device may write;
 * these say how much.
 *
 * Why each exists: Yjs places an array insert by scanning the items after its origin that
 * were inserted concurrently at the same place (and the items inserted after those), so N
 * concurrent inserts at one place cost about N² steps, and one insert after an old origin of
 * a long array costs the rest of the array. In v1, 20,000 fresh client IDs writing one map
 * key in one update stalled a server for 92.8 s, and every later load of the account replayed
 * it. Every client ID is also a persisted binding and an entry of every state vector the
 * server sends; every live entry is held for ever.
 *
 * Pure: reads the server's document and view, never changes them. Relies on the write rules
 * having accepted the update: every fresh item is an element of the device's own array with
 * well-formed entries, and every origin resolves.
 */
import * as Y from 'yjs';
import { type CheckedUpdate, type DeleteSet, decodeIncoming, type Struct } from './decoded-update.js';
import { deviceRoot, isEntry, parseEntryKey } from './document.js';
import type { RefusalReason } from './errors.js';
import type { DeviceId, ThreadId } from './ids.js';
import type { MarkerView } from './marker-view.js';

export interface DocumentBudgets {
  /** [BUDGET-1] Client IDs one update may use for the first time. */
  readonly newClientsPerUpdate: number;
  /** [BUDGET-1] Client IDs bound to one device in one account. */
  readonly clientsPerDevice: number;
  /** [BUDGET-1] Client IDs bound in one account, all devices and the server together. */
  readonly clientsPerAccount: number;
  /**
   * [BUDGET-6] Live entries of one key in one device array, and concurrent inserts at one
   * place of an array (the update's inserts with the same origin and right origin, plus the
   * server's items after that origin with the same origin).
   */
  readonly concurrentPerKey: number;
  /** [BUDGET-7] Threads with a live mute entry in some device array. */
  readonly mutesPerAccount: number;
  /** [BUDGET-7] Live marker keys over all device arrays (threads × devices that read them). */
  readonly readsPerAccount: number;
}

/** What the budgets read of the account's state besides the document (CountsTracker). */
export interface BudgetView extends MarkerView {
  /** Live marker keys over all device arrays: (thread, device) pairs with a live marker entry. */
  readonly markerKeyCount: number;
  /** Threads with a live mute entry in some device array. */
  readonly muteThreadCount: number;
}

/** What the budget check needs to know about the account besides its document. */
export interface BudgetContext {
  readonly doc: Y.Doc;
  readonly view: BudgetView;
  /** The device that sent the update (its array is the only one the update writes). */
  readonly device: DeviceId;
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

/**
 * [BUDGET-6] Server items Yjs may scan to place the inserts of one update, per concurrent
 * write allowed (so 16,384 at the default 16). Yjs scanned about 450,000 items a second in
 * a measurement (1,000 inserts each after an old origin of a 20,000-item chain: a 4.7 KB
 * update, 46 s of integration), so the bound keeps one update's scan near 40 ms, while a
 * session that was offline while another session of its device made thousands of writes to
 * the same array still syncs.
 */
export const SCAN_PER_CONCURRENT_WRITE = 1024;

const WITHIN: BudgetVerdict = { kind: 'within' };

type Id = { readonly client: number; readonly clock: number };
type ArrayInternals = { _start: Y.Item | null };

/** The inserts of one update at one place: same array, origin and right origin. */
interface Place {
  readonly root: string;
  readonly origin: Id | null;
  readonly rightOrigin: Id | null;
  count: number;
  /** Fresh items placed here or after one of them (along fresh origins): what a later sibling scans. */
  subtree: number;
}

/**
 * Checks an update the write rules accepted (`newClients`: the client IDs it uses first),
 * as the rules decoded it (their verdict's `update`: nothing is decoded again, SYNC-15) or
 * as bytes. Costs O(size of the update + the server items its inserts are concurrent with,
 * bounded).
 */
export function checkBudgets(
  ctx: BudgetContext,
  update: Uint8Array | CheckedUpdate,
  newClients: number,
): BudgetVerdict {
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
  if (update instanceof Uint8Array) {
    const decoded = decodeIncoming(update);
    return new BudgetCheck(ctx, decoded.structs, Y.mergeDeleteSets([decoded.ds])).run();
  }
  return new BudgetCheck(ctx, update.structs, update.ds).run();
}

class BudgetCheck {
  readonly #store: Y.Doc['store'];
  readonly #fresh = new Map<number, Y.Item[]>();
  readonly #roots = new Map<Y.Item, string>();
  /** Live entries per key of the device's array: how many the update adds and removes. */
  readonly #added = new Map<string, number>();
  readonly #removed = new Map<string, number>();
  readonly #places = new Map<string, Place>();
  readonly #anchors = new Map<Y.Item, Place>();
  readonly #placeOf = new Map<Y.Item, Place>();

  constructor(
    readonly ctx: BudgetContext,
    readonly structs: readonly Struct[],
    readonly ds: DeleteSet,
  ) {
    this.#store = ctx.doc.store;
  }

  run(): BudgetVerdict {
    this.#collect();
    for (const item of this.#placeOf.keys()) this.#anchor(item).subtree++;
    this.#collectDeletes();
    return this.#checkPlaces() ?? this.#checkKeys() ?? WITHIN;
  }

  #collect(): void {
    for (const struct of this.structs) {
      if (!(struct instanceof Y.Item)) continue;
      const { client, clock } = struct.id;
      const state = Y.getState(this.#store, client);
      if (clock + struct.length <= state) continue;
      let list = this.#fresh.get(client);
      if (list === undefined) {
        list = [];
        this.#fresh.set(client, list);
      }
      list.push(struct);
      const offset = Math.max(0, state - clock);
      // Where Yjs places the part the server lacks: after the server's copy when it has the
      // first part (the same array, the write rules saw to it), else after its own origin.
      const origin = offset > 0 ? { client, clock: state - 1 } : struct.origin;
      const root = this.#root(struct);
      const text = `${root}|${origin === null ? '' : idText(origin)}|${struct.rightOrigin === null ? '' : idText(struct.rightOrigin)}`;
      let place = this.#places.get(text);
      if (place === undefined) {
        place = { root, origin, rightOrigin: struct.rightOrigin, count: 0, subtree: 0 };
        this.#places.set(text, place);
      }
      place.count++;
      this.#placeOf.set(struct, place);
      if (struct.content instanceof Y.ContentDeleted) continue;
      const values = struct.content.getContent();
      for (let i = offset; i < values.length; i++) {
        const entry = values[i];
        if (!isEntry(entry) || Y.isDeleted(this.ds, { client, clock: clock + i } as Y.ID)) continue;
        this.#added.set(entry.key, (this.#added.get(entry.key) ?? 0) + 1);
      }
    }
  }

  /**
   * The place the fresh origins of `item` lead back to (the place of the first item on the
   * way whose origin the server has, or none): Yjs scans a fresh item's fresh descendants
   * when it places a later sibling of it.
   */
  #anchor(item: Y.Item): Place {
    const chain: Y.Item[] = [];
    const seen = new Set<Y.Item>([item]);
    let anchor: Place | undefined;
    for (let at: Y.Item | undefined = item; at !== undefined; ) {
      anchor = this.#anchors.get(at);
      if (anchor !== undefined) break;
      chain.push(at);
      anchor = this.#placeOf.get(at);
      const origin = at.origin;
      if (origin === null || origin.clock < Y.getState(this.#store, origin.client)) break;
      const next = findIn(this.#fresh.get(origin.client) ?? [], origin.clock);
      // Origins that wait on each other (the rules refuse those): stop, never loop.
      if (next === undefined || seen.has(next)) break;
      seen.add(next);
      at = next;
    }
    const found = anchor as Place;
    for (const link of chain) this.#anchors.set(link, found);
    return found;
  }

  /** The array of a fresh item, as the write rules resolved it (along origins, iteratively). */
  #root(item: Y.Item): string {
    const chain: Y.Item[] = [];
    let root: string | undefined;
    for (let at: Y.Item | undefined = item; root === undefined && at !== undefined; ) {
      const known = this.#roots.get(at);
      if (known !== undefined) {
        root = known;
        break;
      }
      chain.push(at);
      const id: Id | null = at.origin ?? at.rightOrigin;
      if (id === null) root = String(at.parent);
      else if (id.clock < Y.getState(this.#store, id.client)) root = rootOf(Y.getItem(this.#store, id as Y.ID));
      else at = findIn(this.#fresh.get(id.client) ?? [], id.clock);
    }
    // The rules accepted the update: every origin resolves; the fallback is never taken.
    const found = root ?? deviceRoot(this.ctx.device);
    for (const link of chain) this.#roots.set(link, found);
    return found;
  }

  /** The server's live entries the update deletes (all in the device's array: the write rules). */
  #collectDeletes(): void {
    for (const [client, ranges] of this.ds.clients) {
      const structs = this.#store.clients.get(client) as Array<Y.Item | Y.GC> | undefined;
      if (structs === undefined) continue;
      const state = Y.getState(this.#store, client);
      for (const range of ranges) {
        const to = Math.min(range.clock + range.len, state);
        if (range.clock >= to) continue;
        for (let i = Y.findIndexSS(structs, range.clock); i < structs.length; i++) {
          const struct = structs[i] as Y.Item | Y.GC;
          if (struct.id.clock >= to) break;
          if (!(struct instanceof Y.Item) || struct.deleted) continue;
          const values = struct.content.getContent();
          const first = Math.max(range.clock, struct.id.clock) - struct.id.clock;
          const last = Math.min(to, struct.id.clock + struct.length) - struct.id.clock;
          for (let j = first; j < last; j++) {
            const entry = values[j];
            if (isEntry(entry)) this.#removed.set(entry.key, (this.#removed.get(entry.key) ?? 0) + 1);
          }
        }
      }
    }
  }

  /**
   * [BUDGET-6] Concurrent inserts at one place, and the server items Yjs scans to place the
   * update's inserts. An insert after a fresh item scans only the update's own inserts there
   * (Yjs stops at the first server item, which cannot descend from a fresh one).
   */
  #checkPlaces(): BudgetVerdict | null {
    const limit = this.ctx.budgets.concurrentPerKey;
    const scanLimit = limit * SCAN_PER_CONCURRENT_WRITE;
    let scanned = 0;
    for (const place of this.#places.values()) {
      if (place.count > limit) {
        return over('concurrent_writes', 'concurrentPerKey', `${place.count} inserts at one place of ${place.root}`);
      }
      // Each later sibling here scans the earlier ones and the fresh items after them.
      scanned += (place.count - 1) * place.subtree;
      if (scanned > scanLimit) {
        return over('concurrent_writes', 'concurrentPerKey', `inserts that scan over ${scanLimit} items`);
      }
      const origin = place.origin;
      if (origin !== null && origin.clock >= Y.getState(this.#store, origin.client)) continue;
      const scan = this.#scan(place, scanLimit - scanned + 1);
      if (place.count + scan.sameOrigin > limit) {
        return over(
          'concurrent_writes',
          'concurrentPerKey',
          `${place.count + scan.sameOrigin} concurrent inserts at one place of ${place.root}`,
        );
      }
      scanned += place.count * scan.visited;
      if (scanned > scanLimit) {
        return over('concurrent_writes', 'concurrentPerKey', `inserts that scan over ${scanLimit} items of the server`);
      }
    }
    return null;
  }

  /**
   * The server items Yjs's conflict scan may visit to place an insert at `place` (an upper
   * bound: it follows Yjs's loop without its early breaks), counted up to `enough`: after
   * the origin, every item with the same origin and every item whose origin is one visited,
   * up to the right origin.
   */
  #scan(place: Place, enough: number): { visited: number; sameOrigin: number } {
    const { origin, rightOrigin } = place;
    let o: Y.Item | null;
    let split = false;
    if (origin === null) {
      const type = this.ctx.doc.share.get(place.root) as unknown as ArrayInternals | undefined;
      o = type?._start ?? null;
    } else {
      const left = Y.getItem(this.#store, origin as Y.ID) as Y.Item;
      // Yjs splits the origin's struct after the origin: its rest follows the origin.
      split = origin.clock < left.id.clock + left.length - 1;
      o = split ? left : left.right;
    }
    const right =
      rightOrigin !== null && rightOrigin.clock < Y.getState(this.#store, rightOrigin.client)
        ? (Y.getItem(this.#store, rightOrigin as Y.ID) as Y.Item)
        : null;
    const visited = new Set<Y.Item | Y.GC>();
    let sameOrigin = 0;
    while (o !== null && visited.size < enough) {
      if (o === right && rightOrigin?.clock === o.id.clock) break;
      const same = (split && visited.size === 0) || sameId(o.origin, origin);
      if (!same && (o.origin === null || !visited.has(Y.getItem(this.#store, o.origin)))) break;
      visited.add(o);
      if (same) sameOrigin++;
      if (o === right) break;
      o = o.right;
    }
    return { visited: visited.size, sameOrigin };
  }

  /**
   * [BUDGET-6] Live entries per key of the device's array; [BUDGET-7] new live marker keys
   * and new muted-or-unmuted threads of the account.
   */
  #checkKeys(): BudgetVerdict | null {
    const { view, device, budgets } = this.ctx;
    let newMarkerKeys = 0;
    const newMuteThreads = new Set<ThreadId>();
    for (const [key, added] of this.#added) {
      const before = view.liveEntries(device, key).length;
      const after = before - (this.#removed.get(key) ?? 0) + added;
      if (after > budgets.concurrentPerKey) {
        return over('concurrent_writes', 'concurrentPerKey', `${after} live entries of ${JSON.stringify(key)}`);
      }
      const parsed = parseEntryKey(key);
      if (parsed === null || before > 0) continue;
      if (parsed.kind === 'marker') newMarkerKeys++;
      else if (view.muteStamp(parsed.thread) === 0) newMuteThreads.add(parsed.thread);
    }
    if (newMarkerKeys > 0 && view.markerKeyCount + newMarkerKeys > budgets.readsPerAccount) {
      return over('key_budget', 'readsPerAccount', `${view.markerKeyCount + newMarkerKeys} marker keys in the account`);
    }
    const muted = view.muteThreadCount + newMuteThreads.size;
    if (newMuteThreads.size > 0 && muted > budgets.mutesPerAccount) {
      return over('key_budget', 'mutesPerAccount', `${muted} threads with a mute entry in the account`);
    }
    return null;
  }
}

/** The item holding `clock` in a list sorted by clock without overlaps (binary search). */
function findIn(items: readonly Y.Item[], clock: number): Y.Item | undefined {
  let low = 0;
  let high = items.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const item = items[mid] as Y.Item;
    if (clock < item.id.clock) high = mid - 1;
    else if (clock >= item.id.clock + item.length) low = mid + 1;
    else return item;
  }
  return undefined;
}

function rootOf(struct: Y.Item | Y.GC): string {
  const parent = (struct as Y.Item).parent as Y.AbstractType<unknown>;
  return Y.findRootTypeKey(parent);
}

function sameId(a: Id | null, b: Id | null): boolean {
  return a === b || (a !== null && b !== null && a.client === b.client && a.clock === b.clock);
}

function idText(id: Id): string {
  return `${id.client}:${id.clock}`;
}

function over(
  reason: Extract<RefusalReason, 'client_budget' | 'concurrent_writes' | 'key_budget'>,
  budget: keyof DocumentBudgets,
  detail: string,
): BudgetVerdict {
  return { kind: 'over', reason, budget, detail };
}
