/** What a replica holds, as plain JSON, for comparing replicas in tests. */
import * as Y from 'yjs';

/**
 * Every top-level map with content, by name (empty roots are left out: a replica creates
 * `heads`, `reads` and `mutes` as soon as it looks at them). Keys are sorted: replicas
 * insert in different orders, and equal states must print alike.
 */
export function docState(doc: Y.Doc): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, type] of [...doc.share].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const entries: Record<string, unknown> = {};
    // A root is created as an AbstractType until someone asks for a map: read its map entries.
    for (const [key, item] of [...type._map].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (item.deleted) continue;
      const content = item.content.getContent();
      const value = content[content.length - 1];
      entries[key] = value instanceof Y.AbstractType ? `<nested ${value.constructor.name}>` : value;
    }
    if (Object.keys(entries).length > 0) out[name] = entries;
  }
  return out;
}
