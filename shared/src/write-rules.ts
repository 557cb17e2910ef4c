/**
 * The write rules of contract v2 (SPEC RULE-2, RULE-4, RULE-7, RULE-8, RULE-11..RULE-25): the check the server
 * runs on every incoming update before it applies, stores or relays it. Pure: it reads the
 * server's document and its MarkerView and never changes either.
 *
 * Every writer appends to and deletes from its own array `v2/device/<itself>`. Yjs encodes
 * the parent of an item only when it has neither origin nor right origin; otherwise Yjs takes
 * the parent from the item its origin names (else its right origin), through the server's
 * store or the update itself. The check follows the same path. See docs/SPEC.md "Checking
 * updates" for why each step is here.
 *
 * The check reads the update with Y.decodeUpdate, and must see exactly what Y.applyUpdate
 * will do with it ([RULE-12]): where the two could differ (a client in two blocks, an origin
 * that waits on the item itself), the update is refused as malformed. An accepted update
 * carries what was decoded (CheckedUpdate), so the budgets and the apply decode nothing again
 * ([SYNC-15]).
 */
import * as Y from 'yjs';
import { CloseCode } from './close-codes.js';
import {
  type CheckedUpdate,
  type DecodedUpdate,
  type DeleteSet,
  decodeIncoming,
  type Struct,
} from './decoded-update.js';
import {
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  isEntry,
  isMuteStamp,
  isV2Root,
  MAX_MUTE_LEAD,
  parseDeviceRoot,
  parseEntryKey,
  unpackMuteStamp,
  V1_ROOTS,
} from './document.js';
import type { RefusalReason } from './errors.js';
import type { DeviceId, ThreadId } from './ids.js';
import type { MarkerView } from './marker-view.js';
import { isMarkerValue, MAX_EPOCH_LEAD, unpackMarker } from './schema.js';
import { clockAdvanceProblem, updateNumberProblem } from './update-numbers.js';

/** Which device first wrote under each Yjs client ID of one account (RULE-13). */
export interface ClientBindings {
  get(clientId: number): DeviceId | undefined;
}

export interface WriteRuleContext {
  /** The server's current document of the account. */
  readonly doc: Y.Doc;
  /** Its state (heads, markers, mute stamps, live entries per device and key), kept current. */
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
      /** What was decoded, for the budgets and the apply. */
      readonly update: CheckedUpdate;
    }
  | { readonly kind: 'not-yet'; readonly detail: string }
  | {
      readonly kind: 'refuse';
      readonly code:
        | typeof CloseCode.invalidMessage
        | typeof CloseCode.forbiddenWrite
        | typeof CloseCode.replicaOutdated;
      readonly reason: RefusalReason;
      readonly detail: string;
    };

type StructStore = Y.Doc['store'];
type Id = { readonly client: number; readonly clock: number };

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

function short(text: string, max = 64): string {
  return JSON.stringify(text.slice(0, max));
}

/** The close code of a refusal reason: 4400 malformed, 4410 a v1 replica, else 4403. */
export function refusalCode(reason: RefusalReason): Extract<Verdict, { kind: 'refuse' }>['code'] {
  if (reason === 'malformed') return CloseCode.invalidMessage;
  if (reason === 'v1_document') return CloseCode.replicaOutdated;
  return CloseCode.forbiddenWrite;
}

/**
 * Checks `update` (V1 encoding, or already decoded) written by `device` against the server's
 * state. [RULE-14] Never throws and never changes the document: a malformed update is a 4400
 * refusal, v1 content 4410, any other refusal 4403; an accepted update applies whole.
 */
export function checkUpdate(ctx: WriteRuleContext, device: DeviceId, update: Uint8Array | DecodedUpdate): Verdict {
  let decoded: DecodedUpdate;
  try {
    decoded = update instanceof Uint8Array ? decodeIncoming(update) : update;
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
  // empty structs and delete ranges ([RULE-12]).
  const numbers =
    updateNumberProblem(decoded.structs, decoded.ds, decoded.blocks) ??
    clockAdvanceProblem(decoded.structs, (client) => Y.getState(ctx.doc.store, client));
  if (numbers !== null) {
    return { kind: 'refuse', code: CloseCode.invalidMessage, reason: 'malformed', detail: numbers };
  }
  try {
    return new UpdateCheck(ctx, device, decoded, Y.mergeDeleteSets([decoded.ds])).run();
  } catch (err) {
    if (err instanceof Refusal) {
      return { kind: 'refuse', code: refusalCode(err.reason), reason: err.reason, detail: err.detail };
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

/** What one key of the device's array gains and loses in the update. */
interface KeyChange {
  /** Values of the server's live entries the update deletes. */
  readonly deleted: number[];
  /** Values of the update's entries that stay live. */
  readonly fresh: number[];
}

/** One run of the rules over one decoded update. */
class UpdateCheck {
  readonly #store: StructStore;
  readonly #ownRoot: string;
  /** First clock per client that the server does not have. */
  readonly #serverState = new Map<number, number>();
  /** Per client, the structs of the update the server does not have, in clock order. */
  readonly #fresh = new Map<number, Struct[]>();
  /** Per client, the clock the update reaches (contiguous from the server's state). */
  readonly #reach = new Map<number, number>();
  /** The fresh struct just before each fresh struct of the same client. */
  readonly #previous = new Map<Struct, Struct>();
  /** The root of each fresh item, once resolved. */
  readonly #roots = new Map<Struct, string>();
  readonly #resolving = new Set<Struct>();
  /** Per key of the device's own array, what the update does to it. */
  readonly #keys = new Map<string, KeyChange>();
  #deletesSomething = false;
  /** [SYNC-15] Every struct is new to the server and every delete removes something live. */
  #whole = true;
  readonly structs: readonly Struct[];
  /** How many client blocks the update's header announces. */
  readonly blocks: number;

  constructor(
    readonly ctx: WriteRuleContext,
    readonly device: DeviceId,
    readonly decoded: DecodedUpdate,
    /** The update's delete set, merged. */
    readonly ds: DeleteSet,
  ) {
    this.#store = ctx.doc.store;
    this.#ownRoot = deviceRoot(device);
    this.structs = decoded.structs;
    this.blocks = decoded.blocks;
  }

  run(): Verdict {
    this.#collectFresh();
    const newClients = this.#checkClients();
    this.#checkItems();
    this.#checkOrder();
    this.#checkDeletes();
    this.#checkKeys();
    const changes = this.#fresh.size > 0 || this.#deletesSomething;
    const update: CheckedUpdate = {
      bytes: this.decoded.bytes,
      structs: this.structs,
      ds: this.ds,
      deletes: this.decoded.ds,
      whole: this.#whole && changes,
    };
    return { kind: 'accept', newClients, changes, update };
  }

  #state(client: number): number {
    let state = this.#serverState.get(client);
    if (state === undefined) {
      state = Y.getState(this.#store, client);
      this.#serverState.set(client, state);
    }
    return state;
  }

  #change(key: string): KeyChange {
    let change = this.#keys.get(key);
    if (change === undefined) {
      change = { deleted: [], fresh: [] };
      this.#keys.set(key, change);
    }
    return change;
  }

  /**
   * [RULE-18] Every root named anywhere, and no map entry anywhere (v1 content is 4410);
   * [RULE-2] no nested type anywhere; [RULE-12] one block per client and known structs that
   * name only known ids; then the parts the server lacks, which must follow on from what it
   * has ([RULE-11]: a gap is "not yet").
   */
  #collectFresh(): void {
    const clients = new Set<number>();
    let blockClient: number | null = null;
    for (const struct of this.structs) {
      if (struct instanceof Y.Item) {
        const parent: unknown = struct.parent;
        // Y.applyUpdate creates every root an update names, also for structs it already
        // has, deleted ones and blocks it drops: checked on every struct.
        if (typeof parent === 'string') {
          if (V1_ROOTS.has(parent)) refuse('v1_document', `root ${short(parent)}`);
          if (!isV2Root(parent)) refuse('unknown_root', `root ${short(parent)}`);
        } else if (parent !== null) {
          refuse('nested_type', `item ${idText(struct.id)} has a nested parent`);
        }
        if (struct.parentSub !== null) {
          refuse('v1_document', `item ${idText(struct.id)} is a map entry (key ${short(struct.parentSub, 40)})`);
        }
        if (struct.content instanceof Y.ContentType) refuse('nested_type', `item ${idText(struct.id)}`);
      }
      const client = struct.id.client;
      if (client !== blockClient) {
        // [RULE-12] Y.applyUpdate keeps only the last block of a client and drops the
        // others, Y.decodeUpdate lists them all.
        if (clients.has(client)) refuse('malformed', `client ${client} has two blocks`);
        clients.add(client);
        blockClient = client;
      }
    }
    if (clients.size !== this.blocks) {
      refuse('malformed', `${this.blocks} client blocks, ${clients.size} with structs of distinct clients`);
    }
    for (const struct of this.structs) {
      if (struct instanceof Y.Skip) {
        this.#whole = false;
        continue;
      }
      const { client, clock } = struct.id;
      const end = clock + struct.length;
      const server = this.#state(client);
      if (clock < server) this.#whole = false;
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
   * its origins first: one the server does not have leaves the struct's client pending.
   */
  #checkKnown(item: Y.Item): void {
    this.#checkKnownOrigin(item, item.origin);
    this.#checkKnownOrigin(item, item.rightOrigin);
  }

  #checkKnownOrigin(item: Y.Item, id: Id | null): void {
    if (id !== null && id.clock >= this.#state(id.client)) {
      refuse('malformed', `known item ${idText(item.id)} names ${idText(id)}, which the server does not have`);
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
   * [RULE-19] Each fresh item is an element of one v2 array, [RULE-20] of the device's own
   * array, [RULE-21] holding well-formed entries. Records the fresh live entries per key.
   */
  #checkItems(): void {
    for (const list of this.#fresh.values()) {
      for (const struct of list) {
        if (!(struct instanceof Y.Item)) continue;
        const root = this.#root(struct);
        this.#checkSlice(struct, root);
        this.#checkOwnArray(root, struct.id, 'inserts into');
        const content = struct.content;
        if (content instanceof Y.ContentDeleted) continue;
        if (!(content instanceof Y.ContentAny)) {
          refuse('invalid_value', `item ${idText(struct.id)} is not a list of entries`);
        }
        const values = content.getContent();
        // The part the server lacks: Yjs applies an item whose first part it has from its own
        // clock on ([RULE-12]).
        const offset = Math.max(0, this.#state(struct.id.client) - struct.id.clock);
        for (let i = 0; i < values.length; i++) {
          const entry = this.#entry(values[i], struct.id);
          if (i < offset || this.#deletedHere({ client: struct.id.client, clock: struct.id.clock + i })) continue;
          this.#change(entry.key).fresh.push(entry.val);
        }
      }
    }
  }

  /** [RULE-21] A well-formed entry of a device array, or a refusal. */
  #entry(value: unknown, id: Id): Entry {
    if (!isEntry(value)) refuse('invalid_value', `item ${idText(id)} holds something that is not an entry`);
    const key = parseEntryKey(value.key);
    if (key === null) refuse('invalid_key', `key ${short(value.key, 260)}`);
    const ok = key.kind === 'marker' ? isMarkerValue(value.val) : isMuteStamp(value.val);
    if (!ok) refuse('invalid_value', `${value.key} = ${String(value.val).slice(0, 32)}`);
    return value;
  }

  /** [RULE-20] Only the device's own array; never heads ([RULE-4]), another device's or @server's. */
  #checkOwnArray(root: string, id: Id, what: string): void {
    if (root === this.#ownRoot) return;
    if (root === HEADS_ROOT) refuse('heads_by_device', `item ${idText(id)}: ${what} ${HEADS_ROOT}`);
    if (parseDeviceRoot(root) !== null) refuse('foreign_marker', `item ${idText(id)}: ${what} ${short(root, 140)}`);
    refuse('unknown_root', `item ${idText(id)}: ${what} ${short(root)}`);
  }

  /**
   * [RULE-12] An item whose first part the server has is applied from the server's copy
   * on: Yjs links the rest after the server's last struct of that client, but keeps the
   * parent it found from the item's own origins. Both must name the same array.
   */
  #checkSlice(item: Y.Item, root: string): void {
    const state = this.#state(item.id.client);
    if (item.id.clock >= state) return;
    const id = { client: item.id.client, clock: state - 1 };
    if (this.#serverRoot(this.#serverStruct(id), id) !== root) {
      refuse('malformed', `item ${idText(item.id)} contradicts the server's copy of ${idText(id)}`);
    }
  }

  /**
   * [RULE-19] The array a fresh item lands in, as Yjs finds it: the parent of its origin's
   * item, else of its right origin's, else its own (a root name). Its origin and right origin
   * must both be elements of that array (not map entries: 4410; not garbage-collected).
   */
  #root(item: Y.Item): string {
    const known = this.#roots.get(item);
    if (known !== undefined) return known;
    // Iterative: an offline batch is a long chain of items, each after the one before.
    const stack: Y.Item[] = [item];
    this.#resolving.add(item);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as Y.Item;
      const next = this.#unresolvedOrigin(top);
      if (next !== null) {
        if (this.#resolving.has(next)) refuse('malformed', `origin cycle at ${idText(next.id)}`);
        this.#resolving.add(next);
        stack.push(next);
        continue;
      }
      stack.pop();
      this.#resolving.delete(top);
      this.#roots.set(top, this.#resolvedRoot(top));
    }
    return this.#roots.get(item) as string;
  }

  /** A fresh item named by `item`'s origin or right origin whose root is not known yet. */
  #unresolvedOrigin(item: Y.Item): Y.Item | null {
    return this.#unresolved(item.origin) ?? this.#unresolved(item.rightOrigin);
  }

  #unresolved(id: Id | null): Y.Item | null {
    if (id === null || id.clock < this.#state(id.client)) return null;
    const struct = this.#freshStruct(id);
    return struct instanceof Y.Item && !this.#roots.has(struct) ? struct : null;
  }

  /** The root of `item` once its origins' roots are known. */
  #resolvedRoot(item: Y.Item): string {
    if (item.origin === null && item.rightOrigin === null) {
      // #collectFresh saw to it that the parent is a v2 root name.
      return item.parent as unknown as string;
    }
    const left = item.origin === null ? null : this.#rootOf(item.origin);
    const right = item.rightOrigin === null ? null : this.#rootOf(item.rightOrigin);
    if (left !== null && right !== null && left !== right) {
      refuse('not_array_entry', `item ${idText(item.id)}: origin in ${short(left)}, right origin in ${short(right)}`);
    }
    return (left ?? right) as string;
  }

  /** The fresh struct holding `id`, or "not yet" when the update does not reach it. */
  #freshStruct(id: Id): Struct {
    const fresh = this.#fresh.get(id.client);
    const reach = this.#reach.get(id.client) ?? this.#state(id.client);
    const struct = fresh === undefined || id.clock >= reach ? undefined : findIn(fresh, id.clock);
    if (struct === undefined) throw new NotYet(`origin ${idText(id)} not known yet`);
    return struct;
  }

  /** The root of the struct holding `id` (resolved already when fresh): in the update, or the server's store. */
  #rootOf(id: Id): string {
    if (id.clock < this.#state(id.client)) return this.#serverRoot(this.#serverStruct(id), id);
    const struct = this.#freshStruct(id);
    if (!(struct instanceof Y.Item)) refuse('not_array_entry', `origin ${idText(id)} is garbage-collected`);
    return this.#roots.get(struct) as string;
  }

  #serverStruct(id: Id): Y.Item | Y.GC {
    const structs = this.#store.clients.get(id.client) as Array<Y.Item | Y.GC>;
    return structs[Y.findIndexSS(structs, id.clock)] as Y.Item | Y.GC;
  }

  #serverRoot(struct: Y.Item | Y.GC, id: Id): string {
    if (!(struct instanceof Y.Item)) refuse('not_array_entry', `origin ${idText(id)} is garbage-collected`);
    const parent = struct.parent as Y.AbstractType<unknown> | null;
    if (parent === null || parent._item !== null) refuse('nested_type', `${idText(id)} is not in a root`);
    if (struct.parentSub !== null) refuse('v1_document', `${idText(id)} is a map entry`);
    const root = Y.findRootTypeKey(parent);
    if (V1_ROOTS.has(root)) refuse('v1_document', `${idText(id)} is in ${short(root)}`);
    return root;
  }

  /**
   * [RULE-12] Yjs integrates a struct after the struct before it of the same client and
   * after its origin and right origin. Structs that wait on each other in a cycle (an origin
   * at or after the item itself, or across clients) stay pending, or make Y.applyUpdate throw.
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
          const next = this.#nextDependency(top, done);
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

  /**
   * The first of the fresh structs Yjs must integrate before `struct` (the struct before it,
   * its origin's, its right origin's) that is not `done`. "Not yet" when an origin is in
   * neither the server nor the update, whichever of them is done.
   */
  #nextDependency(struct: Struct, done: ReadonlySet<Struct>): Struct | undefined {
    const previous = this.#previous.get(struct);
    const origin = struct instanceof Y.Item ? this.#freshDependency(struct.origin) : undefined;
    const right = struct instanceof Y.Item ? this.#freshDependency(struct.rightOrigin) : undefined;
    if (previous !== undefined && !done.has(previous)) return previous;
    if (origin !== undefined && !done.has(origin)) return origin;
    if (right !== undefined && !done.has(right)) return right;
    return undefined;
  }

  /** The fresh struct holding `id`, undefined when the server has it. */
  #freshDependency(id: Id | null): Struct | undefined {
    if (id === null || id.clock < this.#state(id.client)) return undefined;
    const fresh = this.#fresh.get(id.client);
    const dep = fresh === undefined ? undefined : findIn(fresh, id.clock);
    if (dep === undefined) throw new NotYet(`origin ${idText(id)} not known yet`);
    return dep;
  }

  /**
   * [RULE-20] The delete set: ranges the server already deleted are skipped; ranges it does
   * not have are "not yet" (never stored); a live server item may be deleted only in the
   * device's own array. Records the deleted entries per key.
   */
  #checkDeletes(): void {
    for (const [client, ranges] of this.ds.clients) {
      const server = this.#state(client);
      const reach = this.#reach.get(client) ?? server;
      for (const range of ranges) {
        const end = range.clock + range.len;
        if (end > reach) throw new NotYet(`delete of ${client}:${range.clock}+${range.len} not known yet`);
        if (range.clock >= server) continue;
        this.#checkServerDeletes(client, range.clock, Math.min(end, server));
      }
    }
  }

  #checkServerDeletes(client: number, from: number, to: number): void {
    const structs = this.#store.clients.get(client) as Array<Y.Item | Y.GC>;
    for (let i = Y.findIndexSS(structs, from); i < structs.length; i++) {
      const struct = structs[i] as Y.Item | Y.GC;
      if (struct.id.clock >= to) break;
      if (!(struct instanceof Y.Item) || struct.deleted) {
        this.#whole = false;
        continue;
      }
      this.#deletesSomething = true;
      this.#checkOwnArray(this.#serverRoot(struct, struct.id), struct.id, 'deletes from');
      const values = struct.content.getContent();
      const first = Math.max(from, struct.id.clock) - struct.id.clock;
      const last = Math.min(to, struct.id.clock + struct.length) - struct.id.clock;
      for (let j = first; j < last; j++) {
        const entry = values[j];
        // The server accepted only well-formed entries into a device array.
        if (isEntry(entry)) this.#change(entry.key).deleted.push(entry.val);
      }
    }
  }

  /**
   * Per key of the device's array the update touches, with `before` its live entries on the
   * server and `after` what stays of them plus the update's live entries: [RULE-22] not
   * emptied, [RULE-23] its largest value not lowered, [RULE-7] [RULE-8] each new marker
   * within the thread's epoch lead and head, [RULE-24] each new mute stamp within the lead.
   * [RULE-25] Nothing else: entries need not follow the key's current one (concurrent
   * sessions of one device leave several live entries of a key).
   */
  #checkKeys(): void {
    for (const [key, change] of this.#keys) {
      const before = this.ctx.view.liveEntries(this.device, key).map((entry) => entry.val);
      const after = [...before];
      for (const value of change.deleted) {
        const at = after.indexOf(value);
        if (at >= 0) after.splice(at, 1);
      }
      after.push(...change.fresh);
      const parsed = parseEntryKey(key);
      if (parsed === null) continue; // #entry refused every fresh one; a deleted one was never stored
      const what = `${this.#ownRoot} ${key}`;
      if (before.length > 0 && after.length === 0) refuse('deleted_marker', `deletes every entry of ${what}`);
      const was = Math.max(0, ...before);
      const now = Math.max(0, ...after);
      if (now < was) refuse(parsed.kind === 'marker' ? 'lower_marker' : 'lower_mute', `${what}: ${was} → ${now}`);
      if (parsed.kind === 'marker') this.#checkMarkers(parsed.thread, change.fresh, what);
      else this.#checkMutes(parsed.thread, change.fresh, what);
    }
  }

  #checkMarkers(thread: ThreadId, values: readonly number[], what: string): void {
    const threadEpoch = unpackMarker(this.ctx.view.maxMarker(thread)).epoch;
    const head = this.ctx.view.head(thread);
    for (const value of values) {
      const { epoch, seq } = unpackMarker(value);
      if (epoch > threadEpoch + MAX_EPOCH_LEAD) {
        refuse('epoch_too_far', `${what} epoch ${epoch}, thread epoch ${threadEpoch}`);
      }
      if (seq > head) refuse('seq_beyond_head', `${what} seq ${seq} > head ${head}`);
    }
  }

  #checkMutes(thread: ThreadId, values: readonly number[], what: string): void {
    const counter = unpackMuteStamp(this.ctx.view.muteStamp(thread)).counter;
    for (const value of values) {
      const next = unpackMuteStamp(value).counter;
      if (next > counter + MAX_MUTE_LEAD) refuse('mute_too_far', `${what} counter ${next}, thread counter ${counter}`);
    }
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
