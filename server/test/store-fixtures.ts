/** Names and helpers the store tests share. */
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import type { TokenRefusal, WriteBatch } from '../src/store/index.js';

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
