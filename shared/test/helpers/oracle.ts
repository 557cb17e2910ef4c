/**
 * The rules, checked on effects instead of on bytes (contract v2): given the server document
 * before and a copy after an update was applied, list every way the update broke the
 * document table. The differential fuzz holds checkUpdate to this: whatever it accepts must
 * leave this list empty.
 */
import * as Y from 'yjs';
import {
  type ClientBindings,
  type DeviceId,
  deviceRoot,
  HEADS_ROOT,
  isDeviceEntry,
  isHeadEntry,
  isV2Root,
  MAX_EPOCH_LEAD,
  MAX_MUTE_LEAD,
  parseDeviceRoot,
  parseEntryKey,
  unpackMarker,
  unpackMuteStamp,
} from '../../src/index.js';
import { liveValues } from './views.js';

function valueText(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
}

/**
 * The live values of an array as a sorted multiset. Not their order: a forged right origin
 * left of its origin can make replicas order an array differently (Yjs's order assumes honest
 * origins), which no derivation reads (the max per key; deletes name ids). RULE-19.
 */
function valuesText(values: readonly unknown[]): string {
  return values.map(valueText).sort().join(',');
}

/** Everything in `doc` that no document may hold, whoever wrote it. */
export function structuralViolations(doc: Y.Doc): string[] {
  const out: string[] = [];
  for (const name of doc.share.keys()) if (!isV2Root(name)) out.push(`root ${JSON.stringify(name)} is not a v2 root`);
  if (doc.store.pendingStructs !== null) out.push('pending structs left in the store');
  if (doc.store.pendingDs !== null) out.push('pending delete set left in the store');
  for (const [name, type] of doc.share) {
    if ((type as unknown as { _map: Map<string, unknown> })._map.size > 0) out.push(`root ${name} holds map entries`);
    // Every item linked into a root's list names that root as its parent: what the tracker
    // reads of an inserted item and what a fresh replica rebuilds agree.
    let length = 0;
    for (let item = type._start; item !== null; item = item.right) {
      if (item.parent !== type) out.push(`root ${name} links ${item.id.client}:${item.id.clock} of another parent`);
      if (!item.deleted && item.countable) length += item.length;
    }
    if (length !== type._length) out.push(`root ${name} counts ${type._length} elements, holds ${length}`);
  }
  for (const [client, structs] of doc.store.clients) {
    for (const struct of structs) {
      const where = `${client}:${struct.id.clock}`;
      if (struct.length < 1) out.push(`empty struct at ${where}`);
      if (!(struct instanceof Y.Item)) continue;
      if (struct.content instanceof Y.ContentType) out.push(`nested type at ${where}`);
      const parent = struct.parent as Y.AbstractType<unknown> | null;
      if (parent === null || parent._item !== null) {
        out.push(`item ${where} is not in a root`);
        continue;
      }
      if (struct.parentSub !== null) out.push(`item ${where} is a map entry`);
      if (struct.deleted) continue;
      if (!(struct.content instanceof Y.ContentAny)) {
        out.push(`live item ${where} is not a list of entries`);
        continue;
      }
      const root = Y.findRootTypeKey(parent);
      for (const value of struct.content.getContent()) {
        const ok = root === HEADS_ROOT ? isHeadEntry(value) : isDeviceEntry(value);
        if (!ok) out.push(`${root} at ${where} holds ${valueText(value).slice(0, 80)}`);
      }
    }
  }
  // A fresh replica must load the document whole: what the server relays and serves as
  // sync step 2 is this encoding.
  try {
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(doc));
    if (copy.store.pendingStructs !== null || copy.store.pendingDs !== null)
      out.push('a fresh replica keeps pending structs');
    for (const name of new Set([...doc.share.keys(), ...copy.share.keys()])) {
      if (valuesText(liveValues(copy, name)) !== valuesText(liveValues(doc, name))) {
        out.push(`a fresh replica loads ${name} differently`);
      }
    }
  } catch (err) {
    out.push(`a fresh replica cannot load the document: ${String(err)}`);
  }
  return out;
}

/**
 * Every root's live values, as text: equal for two documents whose arrays hold the same
 * entries (in any order). What the server's room fuzz compares a document and its reload by.
 */
export function documentText(doc: Y.Doc): string {
  return [...doc.share.keys()]
    .sort()
    .map((root) => `${root}: ${valuesText(liveValues(doc, root))}`)
    .join('\n');
}

/** Per key, the live values of one array (sorted). */
function byKey(doc: Y.Doc, root: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const value of liveValues(doc, root)) {
    const key = (value as { key?: unknown } | null | undefined)?.key;
    const val = (value as { val?: unknown } | null | undefined)?.val;
    if (typeof key !== 'string' || typeof val !== 'number') continue;
    const list = out.get(key) ?? [];
    list.push(val);
    out.set(key, list);
  }
  for (const list of out.values()) list.sort((x, y) => x - y);
  return out;
}

/** The largest live value of `key` over every device array of `doc`. */
function maxOver(doc: Y.Doc, key: string): number {
  let max = 0;
  for (const root of doc.share.keys()) {
    if (parseDeviceRoot(root) === null) continue;
    for (const value of byKey(doc, root).get(key) ?? []) if (value > max) max = value;
  }
  return max;
}

function headOf(doc: Y.Doc, thread: string): number {
  return Math.max(0, ...(byKey(doc, HEADS_ROOT).get(thread) ?? []));
}

/** `after` without one occurrence of each value of `before` (both sorted). */
function added(before: readonly number[], after: readonly number[]): number[] {
  const rest = [...before];
  const out: number[] = [];
  for (const value of after) {
    const at = rest.indexOf(value);
    if (at >= 0) rest.splice(at, 1);
    else out.push(value);
  }
  return out;
}

/**
 * Every rule `device`'s update broke, judged from the server document `before` and a copy
 * `after` the update was applied to.
 */
export function ruleViolations(
  before: Y.Doc,
  after: Y.Doc,
  device: DeviceId,
  bindings: ClientBindings,
  serverClientId: number,
): string[] {
  const out = structuralViolations(after);
  const own = deviceRoot(device);
  for (const root of new Set([...before.share.keys(), ...after.share.keys()])) {
    if (root === own) continue;
    if (valuesText(liveValues(before, root)) !== valuesText(liveValues(after, root))) {
      out.push(`${root} changed by ${device}`);
    }
  }
  const was = byKey(before, own);
  const now = byKey(after, own);
  for (const key of new Set([...was.keys(), ...now.keys()])) {
    const b = was.get(key) ?? [];
    const a = now.get(key) ?? [];
    if (valuesText(a) === valuesText(b)) continue;
    if (b.length > 0 && a.length === 0) out.push(`${own} ${key}: every entry deleted`);
    if (Math.max(0, ...a) < Math.max(0, ...b))
      out.push(`${own} ${key}: lowered ${Math.max(...b)} → ${Math.max(0, ...a)}`);
    const parsed = parseEntryKey(key);
    if (parsed === null) continue; // structuralViolations names it
    for (const value of added(b, a)) {
      if (parsed.kind === 'marker') {
        const { epoch, seq } = unpackMarker(value);
        const threadEpoch = unpackMarker(maxOver(before, key)).epoch;
        if (epoch > threadEpoch + MAX_EPOCH_LEAD)
          out.push(`${own} ${key}: epoch ${epoch} over thread epoch ${threadEpoch}`);
        const head = headOf(before, parsed.thread);
        if (seq > head) out.push(`${own} ${key}: seq ${seq} beyond head ${head}`);
      } else {
        const counter = unpackMuteStamp(maxOver(before, key)).counter;
        const next = unpackMuteStamp(value).counter;
        if (next > counter + MAX_MUTE_LEAD) out.push(`${own} ${key}: mute counter ${next} over ${counter}`);
      }
    }
  }
  const beforeSv = Y.decodeStateVector(Y.encodeStateVector(before));
  const afterSv = Y.decodeStateVector(Y.encodeStateVector(after));
  for (const [client, clock] of afterSv) {
    if (clock <= (beforeSv.get(client) ?? 0)) continue;
    const owner = bindings.get(client);
    if (client === serverClientId) out.push(`wrote under the server's client ${client}`);
    else if (owner !== undefined && owner !== device) out.push(`wrote under ${owner}'s client ${client}`);
  }
  return out;
}

/**
 * A number in `update` that no honest Yjs encoder writes and Yjs cannot apply exactly (a
 * clock, length or client ID that is not a safe integer in range, a length below 1, an end
 * past 2^53 − 1), described; null when there is none or the update does not decode. Stated
 * apart from the rules' own check (update-numbers.ts), so the fuzz holds them to it, and so a
 * test never hands Y.applyUpdate an update it would never return from (a length of Infinity).
 */
export function unsafeNumber(update: Uint8Array): string | null {
  let decoded: ReturnType<typeof Y.decodeUpdate>;
  try {
    decoded = Y.decodeUpdate(update);
  } catch {
    return null;
  }
  const client = (n: number) => Number.isSafeInteger(n) && n >= 0 && n < 2 ** 32;
  const span = (clock: number, len: number) =>
    Number.isSafeInteger(clock) && clock >= 0 && Number.isSafeInteger(len) && len >= 1 && clock + len < 2 ** 53;
  for (const struct of decoded.structs) {
    if (!client(struct.id.client) || !span(struct.id.clock, struct.length)) {
      return `struct ${struct.id.client}:${struct.id.clock}+${struct.length}`;
    }
    if (!(struct instanceof Y.Item)) continue;
    const parent = struct.parent instanceof Y.ID ? struct.parent : null;
    for (const id of [struct.origin, struct.rightOrigin, parent]) {
      if (id !== null && !(client(id.client) && Number.isSafeInteger(id.clock) && id.clock >= 0)) {
        return `id ${id.client}:${id.clock} in ${struct.id.client}:${struct.id.clock}`;
      }
    }
  }
  for (const [c, ranges] of decoded.ds.clients) {
    for (const range of ranges) {
      if (!client(c) || !span(range.clock, range.len)) return `delete range ${c}:${range.clock}+${range.len}`;
    }
  }
  return null;
}

/** Differences between the live document and one reloaded from `persisted` (the log, or a snapshot). */
export function reloadDifferences(live: Y.Doc, persisted: readonly Uint8Array[]): string[] {
  const out: string[] = [];
  const copy = new Y.Doc();
  try {
    for (const update of persisted) Y.applyUpdate(copy, update);
  } catch (err) {
    return [`the persisted updates do not load: ${String(err)}`];
  }
  if (copy.store.pendingStructs !== null || copy.store.pendingDs !== null) out.push('the reload keeps pending parts');
  for (const name of new Set([...live.share.keys(), ...copy.share.keys()])) {
    if (valuesText(liveValues(copy, name)) !== valuesText(liveValues(live, name)))
      out.push(`${name} reloads differently`);
  }
  const sv = (doc: Y.Doc) => Buffer.from(Y.encodeStateVector(doc)).toString('hex');
  if (sv(copy) !== sv(live)) out.push('the reload has another state vector');
  const ds = (doc: Y.Doc) => JSON.stringify([...Y.createDeleteSetFromStructStore(doc.store).clients].sort());
  if (ds(copy) !== ds(live)) out.push('the reload has another delete set');
  return out;
}
