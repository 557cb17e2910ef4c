/**
 * The v1 account document (SPEC DOC-1..DOC-6, retired by contract v2): three top-level maps
 * and the `reads` key format. Kept only to read a v1 replica or a stored v1 document once,
 * when it is converted (convert.ts); nothing writes it any more.
 */
import type * as Y from 'yjs';
import { type DeviceId, ID_PATTERN, type ThreadId } from '../ids.js';

/** [DOC-1] v1's top-level maps. */
export const ROOT = {
  heads: 'heads',
  reads: 'reads',
  mutes: 'mutes',
} as const;
export type RootName = (typeof ROOT)[keyof typeof ROOT];
export const ROOT_NAMES: ReadonlySet<string> = new Set(Object.values(ROOT));

/** [DOC-3] Separator of a reads key; excluded from the ID character set. */
export const READS_KEY_SEPARATOR = '/';

export interface AccountMaps {
  readonly heads: Y.Map<number>;
  readonly reads: Y.Map<number>;
  readonly mutes: Y.Map<boolean>;
}

/** The three root maps of a v1 account document. */
export function accountMaps(doc: Y.Doc): AccountMaps {
  return {
    heads: doc.getMap<number>(ROOT.heads),
    reads: doc.getMap<number>(ROOT.reads),
    mutes: doc.getMap<boolean>(ROOT.mutes),
  };
}

export function readsKey(thread: ThreadId, device: DeviceId): string {
  return `${thread}${READS_KEY_SEPARATOR}${device}`;
}

export interface ReadsKey {
  readonly thread: ThreadId;
  readonly device: DeviceId;
}

/** Splits a reads key; null when it is not `validThread/validDevice`. */
export function parseReadsKey(key: string): ReadsKey | null {
  const at = key.indexOf(READS_KEY_SEPARATOR);
  if (at < 0) return null;
  const thread = key.slice(0, at);
  const device = key.slice(at + 1);
  if (!ID_PATTERN.test(thread) || !ID_PATTERN.test(device)) return null;
  return { thread: thread as ThreadId, device: device as DeviceId };
}

/** [DOC-6] A value v1's `mutes` may hold. */
export function isMuteValue(value: unknown): value is boolean {
  return typeof value === 'boolean';
}
