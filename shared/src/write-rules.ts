/**
 * The write rules (SPEC RULE-1..RULE-14): the check the server runs on every incoming
 * update before it applies, stores or relays it. Pure: it reads the server's document and
 * never changes it.
 *
 * Yjs encodes parent and key only for an item without an origin, so the key of an
 * overwrite is found by following origins, through the server's store or through the
 * update itself. See docs/SPEC.md "Checking updates" for why each step is here.
 *
 * The check reads the update with Y.decodeUpdate, and must see exactly what Y.applyUpdate
 * will do with it ([RULE-12]): where the two could differ (a client in two blocks, an origin
 * that waits on the item itself), the update is refused as malformed.
 */
import * as decoding from 'lib0/decoding';
import * as Y from 'yjs';
import { CloseCode } from './close-codes.js';
import type { RefusalReason } from './errors.js';
import { type DeviceId, isThreadId, SERVER_DEVICE, type ThreadId } from './ids.js';
import type { MarkerView } from './marker-view.js';
import { isMarkerValue, MAX_EPOCH_LEAD, unpackMarker } from './schema.js';
import { clockAdvanceProblem, updateNumberProblem } from './update-numbers.js';
import { accountMaps, isMuteValue, parseReadsKey, ROOT, ROOT_NAMES } from './v1/schema.js';

/** Which device first wrote under each Yjs client ID of one account (RULE-13). */
export interface ClientBindings {
  get(clientId: number): DeviceId | undefined;
}

export interface WriteRuleContext {
  /** The server's current document of the account. */
  readonly doc: Y.Doc;
  /** Its counts, for heads and thread epochs. */
  readonly view: MarkerView;
  readonly bindings: ClientBindings;
}

export type Verdict =
  | {
      readonly kind: 'accept';
      /** Client IDs this update uses for the first time: bind them to the device. */
      readonly newClients: readonly number[];
      /** False when the update holds nothing the server lacks (a re-sent step 2). */
      readonly changes: boolean;
    }
  | { readonly kind: 'not-yet'; readonly detail: string }
  | {
      readonly kind: 'refuse';
      readonly code: typeof CloseCode.invalidMessage | typeof CloseCode.forbiddenWrite;
      readonly reason: RefusalReason;
      readonly detail: string;
    };

type Struct = Y.Item | Y.GC | Y.Skip;
type DeleteSet = ReturnType<typeof Y.createDeleteSet>;
type StructStore = Y.Doc['store'];
type Id = { readonly client: number; readonly clock: number };
interface Place {
  readonly root: string;
  readonly key: string;
}

class Refusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    readonly detail: string,
  ) {
    super(detail);
  }
}

class NotYet extends Error {}

function refuse(reason: RefusalReason, detail: string): never {
  throw new Refusal(reason, detail);
}

function idText(id: Id): string {
  return `${id.client}:${id.clock}`;
}

/**
 * Checks `update` (V1 encoding) written by `device` against the server's state. [RULE-14]
 * Never throws and never changes the document: a malformed update is a 4400 refusal, any
 * other refusal 4403; an accepted update applies whole.
 */
export function checkUpdate(ctx: WriteRuleContext, device: DeviceId, update: Uint8Array): Verdict {
  let decoded: { structs: Struct[]; ds: DeleteSet };
  let blocks: number;
  try {
    decoded = Y.decodeUpdate(update) as { structs: Struct[]; ds: DeleteSet };
    // The first number of a V1 update: how many client blocks follow.
    blocks = decoding.readVarUint(decoding.createDecoder(update));
  } catch (err) {
    return {
      kind: 'refuse',
      code: CloseCode.invalidMessage,
      reason: 'malformed',
      detail: `cannot decode: ${(err as Error).message}`,
    };
  }
  // [RULE-15] [RULE-16] Before any other rule: every number the rules and Yjs will do
  // arithmetic with is an exact integer in range (update-numbers.ts). This also refuses
  // empty structs and delete ranges ([RULE-12]): Yjs writes none but applies them, and an
  // empty struct at the server's clock would break every later sync that encodes it, an
  // empty range for ids the server lacks makes Y.applyUpdate throw.
  const numbers =
    updateNumberProblem(decoded.structs, decoded.ds, blocks) ??
    clockAdvanceProblem(decoded.structs, (client) => Y.getState(ctx.doc.store, client));
  if (numbers !== null) {
    return { kind: 'refuse', code: CloseCode.invalidMessage, reason: 'malformed', detail: numbers };
  }
  try {
    return new UpdateCheck(ctx, device, decoded.structs, Y.mergeDeleteSets([decoded.ds]), blocks).run();
  } catch (err) {
    if (err instanceof Refusal) {
      return {
        kind: 'refuse',
        code: err.reason === 'malformed' ? CloseCode.invalidMessage : CloseCode.forbiddenWrite,
        reason: err.reason,
        detail: err.detail,
      };
    }
    if (err instanceof NotYet) return { kind: 'not-yet', detail: err.message };
    return {
      kind: 'refuse',
      code: CloseCode.invalidMessage,
      reason: 'malformed',
      detail: `cannot check: ${(err as Error).message}`,
    };
  }
}

/** One run of the rules over one decoded update. */
class UpdateCheck {
  readonly #store: StructStore;
  /** First clock per client that the server does not have. */
  readonly #serverState = new Map<number, number>();
  /** Per client, the structs of the update the server does not have, in clock order. */
  readonly #fresh = new Map<number, Struct[]>();
  /** Per client, the clock the update reaches (contiguous from the server's state). */
  readonly #reach = new Map<number, number>();
  /** The fresh struct just before each fresh struct of the same client. */
  readonly #previous = new Map<Struct, Struct>();
  readonly #places = new Map<Struct, Place>();
  readonly #resolving = new Set<Struct>();

  constructor(
    readonly ctx: WriteRuleContext,
    readonly device: DeviceId,
    readonly structs: Struct[],
    readonly ds: DeleteSet,
    /** How many client blocks the update's header announces. */
    readonly blocks: number,
  ) {
    this.#store = ctx.doc.store;
  }

  run(): Verdict {
    this.#collectFresh();
    const newClients = this.#checkClients();
    const written = this.#checkItems();
    this.#checkOrder();
    this.#checkDeletes(written);
    this.#checkChains(written);
    const changes = this.#fresh.size > 0 || this.#deletesSomething;
    return { kind: 'accept', newClients, changes };
  }

  #deletesSomething = false;

  #state(client: number): number {
    let state = this.#serverState.get(client);
    if (state === undefined) {
      state = Y.getState(this.#store, client);
      this.#serverState.set(client, state);
    }
    return state;
  }

  /**
   * [RULE-1] Every root named anywhere, [RULE-2] no nested type anywhere, [RULE-12] one
   * block per client and known structs that name only known ids, then the parts the server
   * lacks, which must follow on from what it has ([RULE-11]: a gap is "not yet").
   */
  #collectFresh(): void {
    const clients = new Set<number>();
    let blockClient: number | null = null;
    for (const struct of this.structs) {
      if (struct instanceof Y.Item) {
        const parent: unknown = struct.parent;
        if (typeof parent === 'string' && !ROOT_NAMES.has(parent)) {
          refuse('unknown_root', `root ${JSON.stringify(parent.slice(0, 64))}`);
        }
        if (parent !== null && typeof parent !== 'string') {
          refuse('nested_type', `item ${idText(struct.id)} has a nested parent`);
        }
        if (struct.content instanceof Y.ContentType) refuse('nested_type', `item ${idText(struct.id)}`);
      }
      const client = struct.id.client;
      if (client !== blockClient) {
        // [RULE-12] Y.applyUpdate keeps only the last block of a client and drops the
        // others, Y.decodeUpdate lists them all: a second block (even an empty one, below)
        // would let the check judge structs that are never applied, and miss the effect
        // of deletes that then hit nothing or stay pending.
        if (clients.has(client)) refuse('malformed', `client ${client} has two blocks`);
        clients.add(client);
        blockClient = client;
      }
    }
    // Each block that holds structs is one run of a new client above; an empty block
    // (which replaces an earlier block of its client in Y.applyUpdate) is not.
    if (clients.size !== this.blocks) {
      refuse('malformed', `${this.blocks} client blocks, ${clients.size} with structs of distinct clients`);
    }
    for (const struct of this.structs) {
      if (struct instanceof Y.Skip) continue;
      const { client, clock } = struct.id;
      const end = clock + struct.length;
      const server = this.#state(client);
      if (end <= server) {
        if (struct instanceof Y.Item) this.#checkKnown(struct);
        continue;
      }
      const reach = this.#reach.get(client) ?? server;
      if (clock > reach) throw new NotYet(`gap before ${idText(struct.id)} (have ${reach})`);
      this.#reach.set(client, end);
      let list = this.#fresh.get(client);
      if (list === undefined) {
        list = [];
        this.#fresh.set(client, list);
      }
      const previous = list[list.length - 1];
      if (previous !== undefined) this.#previous.set(struct, previous);
      list.push(struct);
    }
  }

  /**
   * [RULE-12] A struct the server already has is not applied again, but Yjs still looks up
   * its origins first: one the server does not have leaves the struct's client pending
   * (or throws). An honest peer's copy names the origins the server's copy names.
   */
  #checkKnown(item: Y.Item): void {
    for (const id of [item.origin, item.rightOrigin]) {
      if (id !== null && id.clock >= this.#state(id.client)) {
        refuse('malformed', `known item ${idText(item.id)} names ${idText(id)}, which the server does not have`);
      }
    }
  }

  /** [RULE-13] Each client ID the update writes under is this device's, or new. */
  #checkClients(): number[] {
    const newClients: number[] = [];
    for (const client of this.#fresh.keys()) {
      const owner = this.ctx.bindings.get(client);
      if (owner === undefined) {
        if (client === this.ctx.doc.clientID) refuse('foreign_client_id', `client ${client} is the server's`);
        newClients.push(client);
      } else if (owner !== this.device) {
        refuse('foreign_client_id', `client ${client} belongs to another device`);
      }
    }
    return newClients;
  }

  /** Whether the update's own delete set covers `id`. */
  #deletedHere(id: Id): boolean {
    return Y.isDeleted(this.ds, id as Y.ID);
  }

  /**
   * [RULE-3] Each fresh item is a map entry of a root, [RULE-4] [RULE-5] in a key this
   * device may write, [RULE-3] with a value of the right type. Returns the fresh items
   * (live or overwritten) per written reads key.
   */
  #checkItems(): Map<string, Y.Item[]> {
    const written = new Map<string, Y.Item[]>();
    for (const list of this.#fresh.values()) {
      for (const struct of list) {
        if (!(struct instanceof Y.Item)) continue;
        if (struct.rightOrigin !== null) refuse('not_map_entry', `item ${idText(struct.id)} has a right origin`);
        const place = this.#place(struct);
        this.#checkKey(place, struct.id);
        this.#checkSlice(struct, place);
        if (place.root === ROOT.reads) {
          let items = written.get(place.key);
          if (items === undefined) {
            items = [];
            written.set(place.key, items);
          }
          items.push(struct);
        }
        const content = struct.content;
        if (content instanceof Y.ContentDeleted) continue;
        if (!(content instanceof Y.ContentAny) || content.getLength() !== 1) {
          refuse('invalid_value', `item ${idText(struct.id)} is not one plain value`);
        }
        const value = content.getContent()[0];
        if (place.root === ROOT.reads && !isMarkerValue(value)) {
          refuse('invalid_value', `marker ${place.key} = ${String(value).slice(0, 32)}`);
        }
        if (place.root === ROOT.mutes && !isMuteValue(value)) {
          refuse('invalid_value', `mute ${place.key} = ${String(value).slice(0, 32)}`);
        }
      }
    }
    return written;
  }

  /**
   * [RULE-12] An item whose first part the server has is applied from the server's copy
   * on: Yjs puts the rest after the server's last struct of that client, but keeps the key
   * it found from the item's own origin or parent. Both must name the same key, or the
   * rest would delete whatever value the server's struct holds.
   */
  #checkSlice(item: Y.Item, place: Place): void {
    const state = this.#state(item.id.client);
    if (item.id.clock >= state) return;
    const id = { client: item.id.client, clock: state - 1 };
    const known = this.#serverPlace(this.#serverStruct(id), id);
    if (known.root !== place.root || known.key !== place.key) {
      refuse('malformed', `item ${idText(item.id)} contradicts the server's copy of ${idText(id)}`);
    }
  }

  /**
   * [RULE-12] Yjs integrates a struct after the struct before it of the same client and
   * after its origin. Structs that wait on each other in a cycle (an origin at or after the
   * item itself, or across clients) stay pending, or make Y.applyUpdate throw.
   */
  #checkOrder(): void {
    const done = new Set<Struct>();
    const open = new Set<Struct>();
    for (const list of this.#fresh.values()) {
      for (const start of list) {
        if (done.has(start)) continue;
        const stack: Struct[] = [start];
        open.add(start);
        while (stack.length > 0) {
          const top = stack[stack.length - 1] as Struct;
          const next = this.#dependencies(top).find((dep) => !done.has(dep));
          if (next === undefined) {
            stack.pop();
            open.delete(top);
            done.add(top);
          } else {
            if (open.has(next)) refuse('malformed', `structs wait on each other at ${idText(top.id)}`);
            open.add(next);
            stack.push(next);
          }
        }
      }
    }
  }

  /** The fresh structs Yjs must integrate before `struct`. */
  #dependencies(struct: Struct): Struct[] {
    const deps: Struct[] = [];
    const previous = this.#previous.get(struct);
    if (previous !== undefined) deps.push(previous);
    const origin = struct instanceof Y.Item ? struct.origin : null;
    if (origin !== null && origin.clock >= this.#state(origin.client)) {
      const fresh = this.#fresh.get(origin.client);
      const dep = fresh === undefined ? undefined : findIn(fresh, origin.clock);
      if (dep === undefined) throw new NotYet(`origin ${idText(origin)} not known yet`);
      deps.push(dep);
    }
    return deps;
  }

  /** [RULE-4] Never heads; [RULE-5] reads keys of this device only, mutes keys that are thread IDs. */
  #checkKey(place: Place, id: Id): void {
    switch (place.root) {
      case ROOT.heads:
        refuse('heads_by_device', `item ${idText(id)} writes heads[${place.key}]`);
        break;
      case ROOT.reads: {
        const parsed = parseReadsKey(place.key);
        if (parsed === null) refuse('invalid_key', `reads key ${JSON.stringify(place.key.slice(0, 260))}`);
        if (parsed.device !== this.device || parsed.device === SERVER_DEVICE) {
          refuse('foreign_marker', `reads[${place.key}] by ${this.device}`);
        }
        break;
      }
      case ROOT.mutes:
        if (!isThreadId(place.key)) refuse('invalid_key', `mutes key ${JSON.stringify(place.key.slice(0, 260))}`);
        break;
      default:
        refuse('unknown_root', `root ${JSON.stringify(String(place.root).slice(0, 64))}`);
    }
  }

  /** The root and key of a fresh item: from its parent info, or by following its origin. */
  #place(item: Y.Item): Place {
    const known = this.#places.get(item);
    if (known !== undefined) return known;
    if (this.#resolving.has(item)) refuse('malformed', `origin cycle at ${idText(item.id)}`);
    this.#resolving.add(item);
    let place: Place;
    const parent = item.parent as unknown;
    if (typeof parent === 'string') {
      if (item.parentSub === null) refuse('not_map_entry', `item ${idText(item.id)} is not keyed`);
      place = { root: parent, key: item.parentSub };
    } else if (parent !== null) {
      refuse('nested_type', `item ${idText(item.id)} has a nested parent`);
    } else {
      const origin = item.origin ?? item.rightOrigin;
      if (origin === null) refuse('malformed', `item ${idText(item.id)} has no parent and no origin`);
      place = this.#placeOf(origin);
    }
    this.#resolving.delete(item);
    this.#places.set(item, place);
    return place;
  }

  /** The place of the struct holding `id`: in the update, or in the server's store. */
  #placeOf(id: Id): Place {
    if (id.clock < this.#state(id.client)) return this.#serverPlace(this.#serverStruct(id), id);
    const fresh = this.#fresh.get(id.client);
    const reach = this.#reach.get(id.client) ?? this.#state(id.client);
    if (fresh === undefined || id.clock >= reach) throw new NotYet(`origin ${idText(id)} not known yet`);
    const struct = findIn(fresh, id.clock);
    if (!(struct instanceof Y.Item)) refuse('not_map_entry', `origin ${idText(id)} is garbage-collected`);
    return this.#place(struct);
  }

  #serverStruct(id: Id): Y.Item | Y.GC {
    const structs = this.#store.clients.get(id.client) as Array<Y.Item | Y.GC>;
    return structs[Y.findIndexSS(structs, id.clock)] as Y.Item | Y.GC;
  }

  #serverPlace(struct: Y.Item | Y.GC, id: Id): Place {
    if (!(struct instanceof Y.Item)) refuse('not_map_entry', `origin ${idText(id)} is garbage-collected`);
    const parent = struct.parent as Y.AbstractType<unknown> | null;
    if (parent === null || parent._item !== null || struct.parentSub === null) {
      refuse('not_map_entry', `origin ${idText(id)} is not a map entry of a root`);
    }
    return { root: Y.findRootTypeKey(parent), key: struct.parentSub };
  }

  /**
   * [RULE-9] The delete set: ranges the server already deleted are skipped; ranges it does
   * not have are "not yet" (never stored); a live server item may be deleted only as the
   * overwrite of a mute, or of this device's marker by a newer one in the same update.
   */
  #checkDeletes(written: Map<string, Y.Item[]>): void {
    for (const [client, ranges] of this.ds.clients) {
      const server = this.#state(client);
      const reach = this.#reach.get(client) ?? server;
      for (const range of ranges) {
        const end = range.clock + range.len;
        if (end > reach) throw new NotYet(`delete of ${client}:${range.clock}+${range.len} not known yet`);
        if (range.clock >= server) continue;
        this.#checkServerDeletes(client, range.clock, Math.min(end, server), written);
      }
    }
  }

  #checkServerDeletes(client: number, from: number, to: number, written: Map<string, Y.Item[]>): void {
    const structs = this.#store.clients.get(client) as Array<Y.Item | Y.GC>;
    for (let i = Y.findIndexSS(structs, from); i < structs.length; i++) {
      const struct = structs[i] as Y.Item | Y.GC;
      if (struct.id.clock >= to) break;
      if (!(struct instanceof Y.Item) || struct.deleted) continue;
      const place = this.#serverPlace(struct, struct.id);
      this.#deletesSomething = true;
      if (place.root === ROOT.mutes) continue;
      this.#checkKey(place, struct.id);
      if (!written.has(place.key)) refuse('deleted_marker', `deletes reads[${place.key}]`);
    }
  }

  /**
   * [RULE-10] Each written marker key forms one chain from the server's current item, and
   * its final value is live, not lower than before ([RULE-6]), at most MAX_EPOCH_LEAD
   * epochs above the thread ([RULE-7]) and not beyond the head ([RULE-8]). Also for keys
   * with only overwritten items: a deleted item appended to a key deletes its value.
   */
  #checkChains(written: Map<string, Y.Item[]>): void {
    const reads = accountMaps(this.ctx.doc).reads;
    const entries = (reads as unknown as { _map: Map<string, Y.Item> })._map;
    for (const [key, items] of written) {
      const current = entries.get(key);
      const byOrigin = new Map<string, Y.Item>();
      for (const item of items) {
        const origin = this.#freshOrigin(item);
        const text = origin === null ? '' : idText(origin);
        if (byOrigin.has(text)) refuse('concurrent_marker', `two writes of reads[${key}] follow one marker`);
        byOrigin.set(text, item);
      }
      let tip = current === undefined ? '' : idText(lastId(current));
      let last: Y.Item | undefined;
      for (let steps = 0; steps < items.length; steps++) {
        const next = byOrigin.get(tip);
        if (next === undefined) refuse('concurrent_marker', `reads[${key}] does not extend the current marker`);
        last = next;
        tip = idText(lastId(next));
      }
      if (last === undefined || last.content instanceof Y.ContentDeleted || this.#deletedHere(lastId(last))) {
        refuse('deleted_marker', `deletes reads[${key}]`);
      }
      const value = (last.content as Y.ContentAny).getContent()[0] as number;
      const before = current !== undefined && !current.deleted ? (reads.get(key) ?? 0) : 0;
      if (value < before) refuse('lower_marker', `reads[${key}] ${before} → ${value}`);
      const thread = (parseReadsKey(key) as { thread: ThreadId }).thread;
      const { epoch, seq } = unpackMarker(value);
      const threadEpoch = unpackMarker(this.ctx.view.maxMarker(thread)).epoch;
      if (epoch > threadEpoch + MAX_EPOCH_LEAD) {
        refuse('epoch_too_far', `reads[${key}] epoch ${epoch}, thread epoch ${threadEpoch}`);
      }
      const head = this.ctx.view.head(thread);
      if (seq > head) refuse('seq_beyond_head', `reads[${key}] seq ${seq} > head ${head}`);
    }
  }

  /**
   * The origin of the part of `item` the server lacks: its own origin, or, when the server
   * already has its first part, the last id the server has (Yjs slices it so).
   */
  #freshOrigin(item: Y.Item): Id | null {
    const state = this.#state(item.id.client);
    if (item.id.clock < state) return { client: item.id.client, clock: state - 1 };
    return item.origin;
  }
}

/** The struct holding `clock` in a list sorted by clock without overlaps (binary search). */
function findIn(structs: Struct[], clock: number): Struct | undefined {
  let low = 0;
  let high = structs.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const struct = structs[mid] as Struct;
    if (clock < struct.id.clock) high = mid - 1;
    else if (clock >= struct.id.clock + struct.length) low = mid + 1;
    else return struct;
  }
  return undefined;
}

function lastId(item: Y.Item): Id {
  return { client: item.id.client, clock: item.id.clock + item.length - 1 };
}
