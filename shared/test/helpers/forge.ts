/**
 * Hand-encodes Yjs V1 updates, byte for byte, so tests can build what no honest Yjs client
 * sends: duplicate client blocks, crafted origins, nested types, unknown roots, delete
 * ranges for ids nobody has. The layout is the one Yjs reads (readClientsStructRefs and
 * readDeleteSet in yjs/src/utils/encoding.js and DeleteSet.js).
 */
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { varUint } from './raw-update.js';

export interface Id {
  readonly client: number;
  readonly clock: number;
}

/** The content of a forged item. `raw` re-encodes a content object taken from a decoded update. */
export type ForgedContent =
  | { readonly any: readonly unknown[] }
  | { readonly deleted: number }
  | { readonly string: string }
  | { readonly json: readonly unknown[] }
  | { readonly binary: Uint8Array }
  | { readonly embed: unknown }
  | { readonly format: readonly [string, unknown] }
  | { readonly type: 'map' | 'array' | 'text' | 'xml' }
  | { readonly doc: string }
  | { readonly raw: ContentLike };

export interface ContentLike {
  getRef(): number;
  getLength(): number;
  write(encoder: Y.UpdateEncoderV1, offset: number): void;
}

export interface ForgedItem {
  readonly kind: 'item';
  readonly origin?: Id | null;
  readonly rightOrigin?: Id | null;
  /** A root name, or the id of a parent item (a nested type). Written only without origins. */
  readonly parent?: string | Id | null;
  /** The map key. Written only without origins. */
  readonly key?: string | null;
  readonly content: ForgedContent;
}

export type ForgedStruct =
  | ForgedItem
  | { readonly kind: 'gc'; readonly len: number }
  | { readonly kind: 'skip'; readonly len: number };

export interface ForgedBlock {
  readonly client: number;
  readonly clock: number;
  readonly structs: readonly ForgedStruct[];
}

export interface ForgedRange {
  readonly client: number;
  readonly clock: number;
  readonly len: number;
}

function toContent(content: ForgedContent): ContentLike {
  if ('raw' in content) return content.raw;
  if ('any' in content) return new Y.ContentAny([...content.any]);
  if ('deleted' in content) return new Y.ContentDeleted(content.deleted);
  if ('string' in content) return new Y.ContentString(content.string);
  if ('json' in content) return new Y.ContentJSON([...content.json]);
  if ('binary' in content) return new Y.ContentBinary(content.binary);
  if ('embed' in content) return new Y.ContentEmbed(content.embed as object);
  if ('format' in content) return new Y.ContentFormat(content.format[0], content.format[1] as object);
  if ('doc' in content) return new Y.ContentDoc(new Y.Doc({ guid: content.doc }));
  const type =
    content.type === 'map'
      ? new Y.Map()
      : content.type === 'array'
        ? new Y.Array()
        : content.type === 'text'
          ? new Y.Text()
          : new Y.XmlElement('p');
  return new Y.ContentType(type);
}

/**
 * Every clock, length and client ID goes through here rather than Yjs's encoder: it also
 * writes 2^53 and above, and the overlong varints lib0 reads as NaN and Infinity (Yjs's
 * encoder writes NaN as 0 and never finishes writing Infinity).
 */
function writeNum(encoder: Y.UpdateEncoderV1, n: number): void {
  encoding.writeUint8Array(encoder.restEncoder, Uint8Array.from(varUint(n)));
}

const BIT6 = 1 << 5;
const BIT7 = 1 << 6;
const BIT8 = 1 << 7;

function writeItem(encoder: Y.UpdateEncoderV1, item: ForgedItem): void {
  const content = toContent(item.content);
  const origin = item.origin ?? null;
  const rightOrigin = item.rightOrigin ?? null;
  const key = item.key ?? null;
  const info = (content.getRef() & 0x1f) | (origin ? BIT8 : 0) | (rightOrigin ? BIT7 : 0) | (key !== null ? BIT6 : 0);
  encoder.writeInfo(info);
  for (const id of [origin, rightOrigin]) {
    if (id) {
      writeNum(encoder, id.client);
      writeNum(encoder, id.clock);
    }
  }
  if (!origin && !rightOrigin) {
    const parent = item.parent ?? null;
    if (typeof parent === 'string') {
      encoder.writeParentInfo(true);
      encoder.writeString(parent);
    } else if (parent !== null) {
      encoder.writeParentInfo(false);
      writeNum(encoder, parent.client);
      writeNum(encoder, parent.clock);
    } else {
      // No parent at all: Yjs reads a parent-info flag anyway; say "root" with an empty name.
      encoder.writeParentInfo(true);
      encoder.writeString('');
    }
    if (key !== null) encoder.writeString(key);
  }
  if ('deleted' in item.content) writeNum(encoder, item.content.deleted);
  else content.write(encoder, 0);
}

export function structLength(struct: ForgedStruct): number {
  if (struct.kind !== 'item') return struct.len;
  return toContent(struct.content).getLength();
}

/** Encodes blocks (in the given order, duplicates allowed) and a delete set, as a V1 update. */
export function forgeUpdate(blocks: readonly ForgedBlock[], ds: readonly ForgedRange[] = []): Uint8Array {
  const encoder = new Y.UpdateEncoderV1();
  encoding.writeVarUint(encoder.restEncoder, blocks.length);
  for (const block of blocks) {
    encoding.writeVarUint(encoder.restEncoder, block.structs.length);
    writeNum(encoder, block.client);
    writeNum(encoder, block.clock);
    for (const struct of block.structs) {
      if (struct.kind === 'gc') {
        encoder.writeInfo(0);
        writeNum(encoder, struct.len);
      } else if (struct.kind === 'skip') {
        encoder.writeInfo(10);
        writeNum(encoder, struct.len);
      } else {
        writeItem(encoder, struct);
      }
    }
  }
  const byClient = new Map<number, ForgedRange[]>();
  for (const range of ds) {
    const list = byClient.get(range.client) ?? [];
    list.push(range);
    byClient.set(range.client, list);
  }
  encoding.writeVarUint(encoder.restEncoder, byClient.size);
  for (const [client, ranges] of byClient) {
    encoder.resetDsCurVal();
    writeNum(encoder, client);
    encoding.writeVarUint(encoder.restEncoder, ranges.length);
    for (const range of ranges) {
      writeNum(encoder, range.clock);
      writeNum(encoder, range.len);
    }
  }
  return encoder.toUint8Array();
}

/** The blocks and delete ranges of an honest update, in a form tests can edit and re-forge. */
export function unforge(update: Uint8Array): { blocks: ForgedBlock[]; ds: ForgedRange[] } {
  const { structs, ds } = Y.decodeUpdate(update);
  const blocks: { client: number; clock: number; structs: ForgedStruct[] }[] = [];
  let current: { client: number; clock: number; structs: ForgedStruct[] } | undefined;
  let next = -1;
  for (const struct of structs) {
    if (current === undefined || struct.id.client !== current.client || struct.id.clock !== next) {
      current = { client: struct.id.client, clock: struct.id.clock, structs: [] };
      blocks.push(current);
    }
    next = struct.id.clock + struct.length;
    if (struct instanceof Y.Item) {
      const parent = struct.parent as unknown;
      current.structs.push({
        kind: 'item',
        origin: struct.origin,
        rightOrigin: struct.rightOrigin,
        parent: typeof parent === 'string' ? parent : parent instanceof Y.ID ? parent : null,
        key: struct.parentSub,
        content: { raw: struct.content as unknown as ContentLike },
      });
    } else if (struct instanceof Y.GC) {
      current.structs.push({ kind: 'gc', len: struct.length });
    } else {
      current.structs.push({ kind: 'skip', len: struct.length });
    }
  }
  const ranges: ForgedRange[] = [];
  for (const [client, list] of ds.clients) {
    for (const range of list) ranges.push({ client, clock: range.clock, len: range.len });
  }
  return { blocks, ds: ranges };
}
