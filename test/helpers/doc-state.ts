/** What a replica holds, as plain JSON, for comparing replicas in tests. */
import * as Y from 'yjs';

/** One root's live content: key → its live values, sorted (several after concurrent sessions). */
export type RootState = Record<string, unknown[]>;

/** Where a value that is not a `{ key, val }` entry is listed, so a forged one still shows. */
const NOT_AN_ENTRY = '<not an entry>';

function keyOf(value: unknown): string {
  if (typeof value === 'object' && value !== null && 'key' in value && typeof value.key === 'string') return value.key;
  return NOT_AN_ENTRY;
}

function valOf(value: unknown): unknown {
  if (value instanceof Y.AbstractType) return `<nested ${value.constructor.name}>`;
  if (typeof value === 'object' && value !== null && 'val' in value && keyOf(value) !== NOT_AN_ENTRY) return value.val;
  return value;
}

/**
 * Every top-level type with live content, by name (empty roots are left out: a replica creates
 * a root as soon as it looks at it). Array elements are listed by their `key`; map entries (v1
 * content) by their map key, prefixed `map:`, so a v1 replica never looks like a v2 one. Keys
 * and values are sorted: replicas insert in different orders, and equal states must print alike.
 */
export function docState(doc: Y.Doc): Record<string, RootState> {
  const out: Record<string, RootState> = {};
  for (const [name, type] of [...doc.share].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const entries: Record<string, unknown[]> = {};
    const add = (key: string, value: unknown) => {
      const list = entries[key] ?? [];
      list.push(value);
      entries[key] = list;
    };
    // A root is created as an AbstractType until someone asks for its kind: walk its items.
    for (let item = type._start; item !== null; item = item.right) {
      if (item.deleted || !item.countable) continue;
      for (const value of item.content.getContent()) add(keyOf(value), valOf(value));
    }
    for (const [key, item] of type._map) {
      if (item.deleted) continue;
      const content = item.content.getContent();
      add(`map:${key}`, valOf(content[content.length - 1]));
    }
    const sorted: RootState = {};
    for (const key of Object.keys(entries).sort()) {
      sorted[key] = (entries[key] ?? []).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    }
    if (Object.keys(sorted).length > 0) out[name] = sorted;
  }
  return out;
}
