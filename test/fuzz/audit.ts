/**
 * The authority oracle for sync inputs: whatever the server accepted from a device, the
 * account's document (as the server sends it in a sync step 2) must still obey the document
 * table — `heads` only as the server wrote it, markers safe integers ≥ 0 that never go down
 * and are never deleted, mutes booleans, no other top-level type. A breach means the write
 * rules let a forged update through.
 */
import * as Y from 'yjs';

const ROOTS = new Set(['heads', 'reads', 'mutes']);

export interface AuditFinding {
  /** What kind of breach (the failure signature: one per kind, not per key). */
  readonly kind: string;
  readonly detail: string;
}

/**
 * Checks the document `state` against the heads the harness wrote and the markers seen at
 * the previous audit (`markers`, updated in place when all is right).
 */
export function auditDocument(
  state: Uint8Array,
  heads: Readonly<Record<string, number>>,
  markers: Map<string, number>,
): AuditFinding | null {
  const doc = new Y.Doc();
  try {
    Y.applyUpdate(doc, state);
    for (const name of doc.share.keys()) {
      if (!ROOTS.has(name)) return { kind: 'a top-level type outside the schema', detail: name };
    }
    const serverHeads = doc.getMap('heads').toJSON() as Record<string, unknown>;
    for (const [thread, value] of Object.entries(serverHeads)) {
      if (value !== heads[thread]) {
        return {
          kind: 'heads changed by a device',
          detail: `heads[${thread}] = ${String(value)}, want ${heads[thread]}`,
        };
      }
    }
    const reads = doc.getMap('reads').toJSON() as Record<string, unknown>;
    for (const [key, value] of Object.entries(reads)) {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || Object.is(value, -0)) {
        return { kind: 'a marker that is not a safe integer ≥ 0', detail: `reads[${key}] = ${String(value)}` };
      }
      const before = markers.get(key);
      if (before !== undefined && value < before) {
        return { kind: 'a marker went down', detail: `reads[${key}] ${before} → ${value}` };
      }
    }
    for (const key of markers.keys()) {
      if (!(key in reads)) return { kind: 'a marker was deleted', detail: `reads[${key}] (was ${markers.get(key)})` };
    }
    const mutes = doc.getMap('mutes').toJSON() as Record<string, unknown>;
    for (const [thread, value] of Object.entries(mutes)) {
      if (typeof value !== 'boolean')
        return { kind: 'a mute that is not a boolean', detail: `mutes[${thread}] = ${String(value)}` };
    }
    for (const [key, value] of Object.entries(reads)) markers.set(key, value as number);
    return null;
  } catch (err) {
    return { kind: 'the server sent a document that does not apply', detail: (err as Error).message };
  } finally {
    doc.destroy();
  }
}
