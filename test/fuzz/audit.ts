/**
 * The authority oracle for sync inputs: whatever the server accepted from a device, the
 * account's document (as the server sends it in a sync step 2) must still obey contract v2's
 * document table (docs/SPEC.md DOC-7..) — only `v2/heads` and `v2/device/<id>` arrays, no map
 * entry and no nested type, every element a well-formed entry of its array, heads as the
 * server wrote them, and per device array and key a largest value (marker or mute stamp) that
 * never goes down and never vanishes. A breach means the write rules let a forged update through.
 */
import { HEADS_ROOT, isDeviceEntry, isEntry, isHeadEntry, parseDeviceRoot } from '@badgesync/shared';
import * as Y from 'yjs';

export interface AuditFinding {
  /** What kind of breach (the failure signature: one per kind, not per key). */
  readonly kind: string;
  readonly detail: string;
}

/**
 * Checks the document `state` against the heads the harness wrote and the largest values seen
 * at the previous audit (`markers`, keyed `<root> <key>`, updated in place when all is right).
 */
export function auditDocument(
  state: Uint8Array,
  heads: Readonly<Record<string, number>>,
  markers: Map<string, number>,
): AuditFinding | null {
  const doc = new Y.Doc();
  try {
    Y.applyUpdate(doc, state);
    const largest = new Map<string, number>();
    const serverHeads = new Map<string, number>();
    for (const [name, type] of doc.share) {
      const device = parseDeviceRoot(name);
      if (name !== HEADS_ROOT && device === null) {
        return { kind: 'a top-level type outside the schema', detail: name };
      }
      for (const [key, item] of type._map) {
        if (!item.deleted) return { kind: 'a map entry (v1 content)', detail: `${name}[${key}]` };
      }
      for (let item = type._start; item !== null; item = item.right) {
        if (item.deleted) continue;
        for (const value of item.content.getContent()) {
          if (value instanceof Y.AbstractType) return { kind: 'a nested type', detail: name };
          const fits = name === HEADS_ROOT ? isHeadEntry(value) : isDeviceEntry(value);
          if (!fits || !isEntry(value)) {
            return { kind: 'an element outside the schema', detail: `${name}: ${JSON.stringify(value)}` };
          }
          const into = name === HEADS_ROOT ? serverHeads : largest;
          const key = name === HEADS_ROOT ? value.key : `${name} ${value.key}`;
          into.set(key, Math.max(into.get(key) ?? 0, value.val));
        }
      }
    }
    for (const [thread, value] of serverHeads) {
      if (value !== heads[thread]) {
        return { kind: 'heads changed by a device', detail: `head(${thread}) = ${value}, want ${heads[thread]}` };
      }
    }
    for (const [thread, value] of Object.entries(heads)) {
      if (!serverHeads.has(thread))
        return { kind: 'heads changed by a device', detail: `head(${thread}) gone (${value})` };
    }
    for (const [key, before] of markers) {
      const value = largest.get(key);
      if (value === undefined) return { kind: 'an entry was deleted', detail: `${key} (was ${before})` };
      if (value < before) return { kind: 'a marker or mute stamp went down', detail: `${key} ${before} → ${value}` };
    }
    for (const [key, value] of largest) markers.set(key, value);
    return null;
  } catch (err) {
    return { kind: 'the server sent a document that does not apply', detail: (err as Error).message };
  } finally {
    doc.destroy();
  }
}
