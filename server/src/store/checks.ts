/**
 * Shape checks on what the store is given to keep (SPEC STORE-1, STORE-7, STORE-8, STORE-14), shared
 * by every store so they refuse the same input. They guard what reaches disk, where a bad
 * value stays forever; request bodies are validated at the HTTP boundary and the document's
 * write rules upstream (shared/ write-rules). A failed check throws a TypeError naming the
 * field, before anything is written: a refused batch leaves nothing.
 */
import { type AccountCounts, type AccountId, isValidId } from '@badgesync/shared';
import type { PushWrite } from './push-write.js';
import type { DevicePatch, DocReplacement, OutboxEntry, WriteBatch } from './store.js';

type UpdateEntry = WriteBatch['updates'][number];
type CountsEntry = WriteBatch['counts'][number];
type BindingEntry = WriteBatch['bindings'][number];
type IdempotencyEntry = WriteBatch['idempotency'][number];

function fail(where: string, what: string): never {
  throw new TypeError(`invalid write batch: ${where} ${what}`);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

export function checkId(value: unknown, where: string): void {
  if (!isValidId(value)) fail(where, `is not a valid ID: ${JSON.stringify(value)?.slice(0, 140)}`);
}

export function checkUpdateEntry(entry: UpdateEntry, i: number): void {
  checkId(entry.account, `updates[${i}].account`);
  if (!(entry.update instanceof Uint8Array) || entry.update.byteLength === 0) {
    fail(`updates[${i}].update`, 'must be a non-empty Uint8Array');
  }
}

export function checkCounts(counts: AccountCounts, where: string): void {
  if (!isCount(counts.badge)) fail(`${where}.badge`, 'must be a non-negative integer');
  if (typeof counts.threads !== 'object' || counts.threads === null || Array.isArray(counts.threads)) {
    fail(`${where}.threads`, 'must be an object');
  }
  for (const [thread, unread] of Object.entries(counts.threads)) {
    if (!isCount(unread)) fail(`${where}.threads[${JSON.stringify(thread)}]`, 'must be a non-negative integer');
  }
  if (!Array.isArray(counts.muted) || !counts.muted.every((t) => typeof t === 'string')) {
    fail(`${where}.muted`, 'must be an array of thread IDs');
  }
}

export function checkCountsEntry(entry: CountsEntry, i: number): void {
  checkId(entry.account, `counts[${i}].account`);
  checkCounts(entry.counts, `counts[${i}].counts`);
  if (entry.changed !== undefined) {
    if (!Array.isArray(entry.changed)) fail(`counts[${i}].changed`, 'must be an array of thread IDs');
    entry.changed.forEach((thread, j) => {
      checkId(thread, `counts[${i}].changed[${j}]`);
    });
  }
  if (entry.heldThrough !== undefined && !isCount(entry.heldThrough)) {
    fail(`counts[${i}].heldThrough`, 'must be a non-negative integer');
  }
}

export function checkBindingEntry(entry: BindingEntry, i: number): void {
  checkId(entry.account, `bindings[${i}].account`);
  checkId(entry.device, `bindings[${i}].device`);
  if (!isCount(entry.clientId)) fail(`bindings[${i}].clientId`, 'must be a non-negative integer');
}

export function checkIdempotencyEntry(entry: IdempotencyEntry, i: number): void {
  checkId(entry.account, `idempotency[${i}].account`);
  if (typeof entry.key !== 'string' || entry.key.length === 0)
    fail(`idempotency[${i}].key`, 'must be a non-empty string');
  if (typeof entry.response !== 'string') fail(`idempotency[${i}].response`, 'must be a string');
  if (!Number.isSafeInteger(entry.at)) fail(`idempotency[${i}].at`, 'must be an integer time in ms');
}

/** Every check of the batch, in the order the stores write it. */
export function checkBatch(batch: WriteBatch): void {
  batch.updates.forEach(checkUpdateEntry);
  batch.counts.forEach(checkCountsEntry);
  batch.bindings.forEach(checkBindingEntry);
  batch.idempotency.forEach(checkIdempotencyEntry);
  batch.push?.forEach(checkPushWrite);
}

/**
 * [STORE-17] A push-state write carried in a batch: the checks its store call makes (a push
 * address of any platform, checkToken, STORE-19).
 */
export function checkPushWrite(write: PushWrite, i: number): void {
  switch (write?.kind) {
    case 'enqueuePush':
      return checkOutboxEntry(write.entry);
    case 'setDelivered':
      return checkDelivered(write.token, write.badge, write.at);
    case 'removePush':
    case 'clearDelivered':
    case 'invalidateToken':
      // Their store calls check nothing: an unknown address changes nothing.
      return;
    default:
      fail(`push[${i}].kind`, `is not a push write: ${JSON.stringify((write as { kind?: unknown })?.kind)}`);
  }
}

/**
 * [STORE-16] A document replacement, checked whole before anything is written; answers the
 * batch (counts and bindings) it writes next to the snapshot.
 */
export function replacementBatch(account: string, replacement: DocReplacement): WriteBatch {
  checkId(account, 'account');
  if (!(replacement.snapshot instanceof Uint8Array) || replacement.snapshot.byteLength === 0) {
    throw new TypeError('replaceDoc: snapshot must be a non-empty Uint8Array');
  }
  if (!isCount(replacement.throughLogId)) {
    throw new RangeError(`replaceDoc: throughLogId must be a non-negative integer, got ${replacement.throughLogId}`);
  }
  const batch: WriteBatch = {
    updates: [],
    counts: [{ account: account as AccountId, counts: replacement.counts }],
    bindings: replacement.bindings.map(({ clientId, device }) => ({ account: account as AccountId, clientId, device })),
    idempotency: [],
  };
  checkBatch(batch);
  return batch;
}

const ENVIRONMENTS: ReadonlySet<unknown> = new Set(['production', 'sandbox']);

export function checkDevice(device: unknown): void {
  checkId(device, 'device');
}

/**
 * APNs tokens are hex (32 bytes today); Apple says not to assume their length, and the API
 * accepts up to 200 digits, so the store bounds them at 400 — a bound only there to keep
 * garbage out of the keys of the outbox and the delivered badges.
 */
const TOKEN_PATTERN = /^[0-9a-f]{1,400}$/;
/**
 * FCM tokens are opaque (about 160 characters today, of `[A-Za-z0-9_:-]`); the API accepts
 * up to 4096, the store bounds them there too.
 */
const FCM_TOKEN_PATTERN = /^[A-Za-z0-9_:.-]{1,4096}$/;
/** The longest Web Push endpoint the store keeps (the API accepts 2048): garbage out of the keys. */
const MAX_ENDPOINT_LENGTH = 2048;
/** Base64url key material of a subscription; the API bounds the lengths (SPEC API-14). */
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]{1,200}={0,2}$/;

/**
 * A stored push address (push-address.ts), as the outbox and delivered badges key it: a
 * lower-case hex APNs token, `fcm:<token>`, or `webpush:<https endpoint>`.
 */
export function checkToken(token: unknown, where = 'token'): void {
  if (typeof token !== 'string') return fail(where, 'must be a push address');
  if (token.startsWith('fcm:')) {
    if (!FCM_TOKEN_PATTERN.test(token.slice(4))) fail(where, 'must be fcm: and an FCM token');
    return;
  }
  if (token.startsWith('webpush:')) {
    if (!isHttpsUrl(token.slice(8))) fail(where, 'must be webpush: and an https endpoint');
    return;
  }
  if (!TOKEN_PATTERN.test(token)) fail(where, 'must be a lower-case hex APNs token');
}

function isHttpsUrl(value: string): boolean {
  if (value.length > MAX_ENDPOINT_LENGTH) return false;
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}

export function checkDevicePatch(patch: DevicePatch): void {
  if (
    patch.apnsToken !== undefined &&
    (typeof patch.apnsToken !== 'string' || !/^[0-9a-fA-F]{1,400}$/.test(patch.apnsToken))
  ) {
    fail('apnsToken', 'must be a non-empty hex string');
  }
  const addresses = [patch.apnsToken, patch.fcmToken, patch.webpush].filter((x) => x !== undefined).length;
  if (addresses > 1) fail('patch', 'registers at most one of apnsToken, fcmToken, webpush');
  if (patch.fcmToken !== undefined && (typeof patch.fcmToken !== 'string' || !FCM_TOKEN_PATTERN.test(patch.fcmToken))) {
    fail('fcmToken', 'must be an FCM registration token');
  }
  if (patch.webpush !== undefined) {
    const { endpoint, keys } = patch.webpush;
    if (typeof endpoint !== 'string' || !isHttpsUrl(endpoint)) fail('webpush.endpoint', 'must be an https URL');
    if (typeof keys?.p256dh !== 'string' || !BASE64URL_PATTERN.test(keys.p256dh))
      fail('webpush.keys.p256dh', 'must be base64url');
    if (typeof keys?.auth !== 'string' || !BASE64URL_PATTERN.test(keys.auth))
      fail('webpush.keys.auth', 'must be base64url');
  }
  if (patch.environment !== undefined && !ENVIRONMENTS.has(patch.environment)) {
    fail('environment', "must be 'production' or 'sandbox'");
  }
  if (patch.topic !== undefined && typeof patch.topic !== 'string') fail('topic', 'must be a string');
  if (patch.badges !== undefined && typeof patch.badges !== 'boolean') fail('badges', 'must be a boolean');
}

export function checkOutboxEntry(entry: OutboxEntry): void {
  checkToken(entry.token, 'outbox token');
  if (!isCount(entry.badge)) fail('outbox badge', 'must be a non-negative integer');
  if (!isCount(entry.attempts)) fail('outbox attempts', 'must be a non-negative integer');
  if (!Number.isSafeInteger(entry.changedAt)) fail('outbox changedAt', 'must be an integer time in ms');
  if (!Number.isSafeInteger(entry.dueAt)) fail('outbox dueAt', 'must be an integer time in ms');
  if (typeof entry.parked !== 'boolean') fail('outbox parked', 'must be a boolean');
}

export function checkDelivered(token: unknown, badge: unknown, at: unknown): void {
  checkToken(token);
  if (!isCount(badge)) fail('delivered badge', 'must be a non-negative integer');
  if (!Number.isSafeInteger(at)) fail('delivered at', 'must be an integer time in ms');
}

export function checkTime(value: unknown, where: string): void {
  if (!Number.isSafeInteger(value)) fail(where, 'must be an integer time in ms');
}
