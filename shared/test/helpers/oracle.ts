/**
 * The rules, checked on effects instead of on bytes: given the server document before and a
 * copy after an update was applied, list every way the update broke the document table. The
 * differential fuzz holds checkUpdate to this: whatever it accepts must leave this list empty.
 */
import * as Y from 'yjs';
import {
  type ClientBindings,
  type DeviceId,
  isHeadValue,
  isMarkerValue,
  isThreadId,
  MAX_EPOCH_LEAD,
  parseReadsKey,
  ROOT,
  ROOT_NAMES,
  unpackMarker,
} from '../../src/index.js';

type Entries = Map<string, unknown>;

/** The live entries of one root map, without creating the root. */
export function entriesOf(doc: Y.Doc, root: string): Entries {
  const type = doc.share.get(root);
  const out: Entries = new Map();
  if (type === undefined) return out;
  const map = type as unknown as { _map: Map<string, Y.Item> };
  for (const [key, item] of map._map) {
    if (!item.deleted) out.set(key, item.content.getContent()[item.length - 1]);
  }
  return out;
}

function entriesText(entries: Entries): string {
  return JSON.stringify(
    [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    (_, v) => (typeof v === 'bigint' ? `${v}n` : v),
  );
}

/** Everything in `doc` that no document may hold, whoever wrote it. */
export function structuralViolations(doc: Y.Doc): string[] {
  const out: string[] = [];
  for (const name of doc.share.keys()) if (!ROOT_NAMES.has(name)) out.push(`unknown root ${JSON.stringify(name)}`);
  if (doc.store.pendingStructs !== null) out.push('pending structs left in the store');
  if (doc.store.pendingDs !== null) out.push('pending delete set left in the store');
  for (const [name, type] of doc.share) {
    if ((type as unknown as { _start: unknown })._start !== null) out.push(`root ${name} holds list items`);
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
      if (struct.parentSub === null) out.push(`item ${where} has no key`);
      if (!struct.deleted && !(struct.content instanceof Y.ContentAny && struct.length === 1)) {
        out.push(`live item ${where} is not one plain value`);
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
    for (const name of ROOT_NAMES) {
      if (entriesText(entriesOf(copy, name)) !== entriesText(entriesOf(doc, name))) {
        out.push(`a fresh replica loads ${name} differently`);
      }
    }
  } catch (err) {
    out.push(`a fresh replica cannot load the document: ${String(err)}`);
  }
  for (const [key, value] of entriesOf(doc, ROOT.heads)) {
    if (!isThreadId(key) || !isHeadValue(value)) out.push(`heads[${key}] = ${String(value)}`);
  }
  for (const [key, value] of entriesOf(doc, ROOT.reads)) {
    if (parseReadsKey(key) === null || !isMarkerValue(value)) out.push(`reads[${key}] = ${String(value)}`);
  }
  for (const [key, value] of entriesOf(doc, ROOT.mutes)) {
    if (!isThreadId(key) || typeof value !== 'boolean') out.push(`mutes[${key}] = ${String(value)}`);
  }
  return out;
}

function epochOfThread(reads: Entries, thread: string): number {
  let max = 0;
  for (const [key, value] of reads) {
    if (parseReadsKey(key)?.thread === thread && typeof value === 'number' && value > max) max = value;
  }
  return unpackMarker(max).epoch;
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
  const headsBefore = entriesOf(before, ROOT.heads);
  const headsAfter = entriesOf(after, ROOT.heads);
  for (const key of new Set([...headsBefore.keys(), ...headsAfter.keys()])) {
    if (headsBefore.get(key) !== headsAfter.get(key)) {
      out.push(`heads[${key}] ${String(headsBefore.get(key))} → ${String(headsAfter.get(key))}`);
    }
  }
  const readsBefore = entriesOf(before, ROOT.reads);
  const readsAfter = entriesOf(after, ROOT.reads);
  for (const key of new Set([...readsBefore.keys(), ...readsAfter.keys()])) {
    const was = readsBefore.get(key);
    const now = readsAfter.get(key);
    if (was === now) continue;
    const parsed = parseReadsKey(key);
    if (parsed === null || parsed.device !== device) out.push(`reads[${key}] written by ${device}`);
    if (now === undefined) {
      out.push(`reads[${key}] deleted`);
      continue;
    }
    if (typeof now !== 'number') continue; // structuralViolations names it
    if (typeof was === 'number' && now < was) out.push(`reads[${key}] lowered ${was} → ${now}`);
    if (parsed === null) continue;
    const { epoch, seq } = unpackMarker(now);
    const threadEpoch = epochOfThread(readsBefore, parsed.thread);
    if (epoch > threadEpoch + MAX_EPOCH_LEAD) out.push(`reads[${key}] epoch ${epoch} over thread epoch ${threadEpoch}`);
    const head = headsBefore.get(parsed.thread);
    if (seq > (typeof head === 'number' ? head : 0)) out.push(`reads[${key}] seq ${seq} beyond head ${String(head)}`);
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
  for (const name of ROOT_NAMES) {
    if (entriesText(entriesOf(copy, name)) !== entriesText(entriesOf(live, name)))
      out.push(`${name} reloads differently`);
  }
  const sv = (doc: Y.Doc) => Buffer.from(Y.encodeStateVector(doc)).toString('hex');
  if (sv(copy) !== sv(live)) out.push('the reload has another state vector');
  const ds = (doc: Y.Doc) => JSON.stringify([...Y.createDeleteSetFromStructStore(doc.store).clients].sort());
  if (ds(copy) !== ds(live)) out.push('the reload has another delete set');
  return out;
}
