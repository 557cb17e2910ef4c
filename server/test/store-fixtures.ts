/** Names and helpers the store tests share. */
import { type AccountId, parseAccountId, parseDeviceId } from '@badgesync/shared';
import type { DocumentLog, PushOutbox, TokenRefusal, WriteBatch } from '../src/store/index.js';

export const A = parseAccountId('alice');
export const B = parseAccountId('bob');
export const C = parseAccountId('carol');
export const D1 = parseDeviceId('iphone-1');
export const D2 = parseDeviceId('mac-2');
export const D3 = parseDeviceId('ipad-3');

export const EMPTY_BATCH: WriteBatch = { updates: [], counts: [], bindings: [], idempotency: [] };

export function batch(parts: Partial<WriteBatch>): WriteBatch {
  return { ...EMPTY_BATCH, ...parts };
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** APNs refused a token for production and the configured topic, for registrations made up to `at`. */
export function refusal(reason: string, at: number, where: Partial<TokenRefusal> = {}): TokenRefusal {
  return { reason, registeredAtOrBefore: at, environment: 'production', topic: null, ...where };
}

/**
 * Earliest dueAt among pending, not parked outbox entries; null when none. The server never
 * asks (its timer follows duePushes), so it is read here through duePushes, oldest due first.
 */
export function nextDueAt(store: PushOutbox): number | null {
  return store.duePushes(Number.MAX_SAFE_INTEGER, 1)[0]?.dueAt ?? null;
}

/** Those of `accounts` with a stored document (a snapshot or a logged update). */
export function withDocuments(store: DocumentLog, accounts: readonly AccountId[]): AccountId[] {
  return accounts.filter((account) => store.loadDoc(account).updates.length > 0);
}
