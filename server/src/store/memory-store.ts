/**
 * The store in plain Maps: for tests, and the reference the contract suite holds SqliteStore
 * to. Same semantics, same checks, nothing kept across restarts. It copies bytes in and out,
 * so a caller can no more change stored data through a buffer than it could on disk.
 */
import { type AccountCounts, type AccountId, type DeviceId, sortedRecord } from '@badgesync/shared';
import { blockFor } from '../test-hooks.js';
import { withChangedThreads } from './changed-threads.js';
import {
  checkBatch,
  checkDelivered,
  checkDevice,
  checkDevicePatch,
  checkId,
  checkOutboxEntry,
  checkTime,
  replacementBatch,
} from './checks.js';
import { isPushable, mergeRegistration, refuses } from './device-record.js';
import { applyPushWrite } from './push-write.js';
import type {
  DevicePatch,
  DocReplacement,
  OutboxEntry,
  Registration,
  StoredDoc,
  SyncStore,
  TokenRefusal,
  WriteBatch,
} from './store.js';

interface LogEntry {
  readonly id: number;
  readonly data: Uint8Array;
}

/** The part of `counts` that names `changed` threads (a delta applied to nothing stored). */
function onlyThreads(counts: AccountCounts, changed: readonly string[]): AccountCounts {
  const names = new Set(changed);
  return {
    badge: counts.badge,
    threads: sortedRecord(Object.entries(counts.threads).filter(([thread]) => names.has(thread))),
    muted: counts.muted.filter((thread) => names.has(thread)),
  };
}

function copyCounts(counts: AccountCounts): AccountCounts {
  return { badge: counts.badge, threads: { ...counts.threads }, muted: [...counts.muted] };
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

function pairKey(account: AccountId, device: DeviceId): string {
  return `${account}\u0000${device}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byDueThenToken(a: OutboxEntry, b: OutboxEntry): number {
  if (a.dueAt !== b.dueAt) return a.dueAt - b.dueAt;
  return compare(a.token, b.token);
}

function byAccountThenDevice(a: Registration, b: Registration): number {
  return compare(a.account, b.account) || compare(a.device, b.device);
}

/** A copy of `map` (values copied by `copy`) and the function that puts it back in place. */
function saved<K, V>(map: Map<K, V>, copy: (value: V) => V = (value) => value): () => void {
  const entries = [...map].map(([key, value]) => [key, copy(value)] as const);
  return () => {
    map.clear();
    for (const [key, value] of entries) map.set(key, value);
  };
}

export class MemoryStore implements SyncStore {
  /** The highest log ID ever issued; IDs are never reused, as with SQLite AUTOINCREMENT. */
  #lastLogId = 0;
  #closed = false;
  readonly #logs = new Map<AccountId, LogEntry[]>();
  readonly #snapshots = new Map<AccountId, { readonly data: Uint8Array; readonly throughLogId: number }>();
  readonly #bindings = new Map<AccountId, Map<number, DeviceId>>();
  readonly #counts = new Map<AccountId, AccountCounts>();
  readonly #idempotency = new Map<AccountId, Map<string, { readonly response: string; readonly at: number }>>();
  /** Registrations by account + NUL + device. */
  readonly #registrations = new Map<string, Registration>();
  /** By APNs token. */
  readonly #delivered = new Map<string, number>();
  readonly #outbox = new Map<string, OutboxEntry>();
  readonly #meta = new Map<string, string>();
  readonly #revocations = new Map<string, number>();

  #open(): void {
    if (this.#closed) throw new TypeError('The database connection is not open');
  }

  /**
   * [STORE-13] Runs `work`; a throw inside it undoes every call made in it, then reaches the
   * caller, as SQLite's rollback does. A nested transaction is a savepoint: its throw undoes
   * its own calls only, and the outer one goes on if it catches the throw.
   */
  transaction(work: () => void): void {
    this.#open();
    const rollback = this.#savepoint();
    try {
      work();
    } catch (err) {
      rollback();
      throw err;
    }
  }

  /**
   * Copies of every field a call can change, deep enough to put them back: stored values
   * are never changed in place (each write sets a new one), only the maps, sets and log
   * arrays that hold them. A field added to this class belongs here too.
   */
  #savepoint(): () => void {
    const lastLogId = this.#lastLogId;
    const restores = [
      saved(this.#logs, (log) => [...log]),
      saved(this.#snapshots),
      saved(this.#bindings, (bound) => new Map(bound)),
      saved(this.#counts),
      saved(this.#idempotency, (answers) => new Map(answers)),
      saved(this.#registrations),
      saved(this.#delivered),
      saved(this.#outbox),
      saved(this.#meta),
      saved(this.#revocations),
    ];
    return () => {
      this.#lastLogId = lastLogId;
      for (const restore of restores) restore();
    };
  }

  commit(batch: WriteBatch): void {
    this.#open();
    // Check everything first: once writing starts nothing can throw, so a batch is all-or-nothing.
    checkBatch(batch);
    for (const { account, update } of batch.updates) {
      this.#lastLogId += 1;
      getOrAdd(this.#logs, account, () => []).push({ id: this.#lastLogId, data: update.slice() });
    }
    for (const { account, counts, changed } of batch.counts) {
      const stored = this.#counts.get(account);
      if (changed === undefined || stored === undefined) {
        this.#counts.set(account, copyCounts(changed === undefined ? counts : onlyThreads(counts, changed)));
        continue;
      }
      this.#counts.set(account, withChangedThreads(stored, counts, changed));
    }
    for (const { account, clientId, device } of batch.bindings) {
      const bound = getOrAdd(this.#bindings, account, () => new Map<number, DeviceId>());
      if (!bound.has(clientId)) bound.set(clientId, device);
    }
    for (const { account, key, response, at } of batch.idempotency) {
      getOrAdd(this.#idempotency, account, () => new Map()).set(key, { response, at });
    }
    for (const write of batch.push ?? []) applyPushWrite(this, write);
  }

  /** [STORE-17] No thread: written at once, durable (as much as memory is) when it returns. */
  commitAsync(batch: WriteBatch, holdMs = 0): null {
    blockFor(holdMs);
    this.commit(batch);
    return null;
  }

  loadDoc(account: AccountId): StoredDoc {
    this.#open();
    const snapshot = this.#snapshots.get(account);
    const updates: Uint8Array[] = snapshot === undefined ? [] : [snapshot.data.slice()];
    let lastLogId = snapshot?.throughLogId ?? 0;
    let logCount = 0;
    let logBytes = 0;
    for (const entry of this.#logs.get(account) ?? []) {
      updates.push(entry.data.slice());
      lastLogId = entry.id;
      logCount += 1;
      logBytes += entry.data.byteLength;
    }
    return { updates, lastLogId, logCount, logBytes };
  }

  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number): void {
    this.#open();
    if (!Number.isSafeInteger(throughLogId) || throughLogId < 0) {
      throw new RangeError(`compact: throughLogId must be a non-negative integer, got ${throughLogId}`);
    }
    if (!(snapshot instanceof Uint8Array)) throw new TypeError('compact: snapshot must be a Uint8Array');
    // Recording an ID not issued yet would hide the entries that later get it.
    const through = Math.min(throughLogId, this.#lastLogId);
    // An older compaction than the stored one would lose the entries between the two.
    if (through < (this.#snapshots.get(account)?.throughLogId ?? 0)) return;
    this.#snapshots.set(account, { data: snapshot.slice(), throughLogId: through });
    const log = this.#logs.get(account);
    if (log === undefined) return;
    const kept = log.filter((entry) => entry.id > through);
    if (kept.length === 0) this.#logs.delete(account);
    else this.#logs.set(account, kept);
  }

  replaceDoc(account: AccountId, replacement: DocReplacement): void {
    this.#open();
    const batch = replacementBatch(account, replacement);
    const stored = this.#snapshots.get(account)?.throughLogId ?? 0;
    if (replacement.throughLogId < stored) {
      throw new RangeError(
        `replaceDoc: throughLogId ${replacement.throughLogId} is older than the snapshot's ${stored}`,
      );
    }
    this.transaction(() => {
      this.commit(batch);
      this.compact(account, replacement.snapshot, replacement.throughLogId);
    });
  }

  loadBindings(account: AccountId): Map<number, DeviceId> {
    this.#open();
    return new Map(this.#bindings.get(account));
  }

  getCounts(account: AccountId): AccountCounts | null {
    this.#open();
    const counts = this.#counts.get(account);
    return counts === undefined ? null : copyCounts(counts);
  }

  getBadges(accounts: readonly AccountId[]): Map<AccountId, number> {
    this.#open();
    return new Map(accounts.map((account) => [account, this.#counts.get(account)?.badge ?? 0]));
  }

  getIdempotent(account: AccountId, key: string, notBefore: number): string | null {
    this.#open();
    const answer = this.#idempotency.get(account)?.get(key);
    return answer !== undefined && answer.at >= notBefore ? answer.response : null;
  }

  purgeIdempotent(before: number): number {
    this.#open();
    let purged = 0;
    for (const [account, answers] of this.#idempotency) {
      for (const [key, answer] of answers) {
        if (answer.at < before) {
          answers.delete(key);
          purged += 1;
        }
      }
      if (answers.size === 0) this.#idempotency.delete(account);
    }
    return purged;
  }

  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Registration {
    this.#open();
    checkId(account, 'account');
    checkDevice(device);
    checkDevicePatch(patch);
    checkTime(now, 'now');
    const key = pairKey(account, device);
    const next = mergeRegistration(account, device, this.#registrations.get(key) ?? null, patch, now);
    this.#registrations.set(key, next);
    return { ...next };
  }

  signOut(account: AccountId, device: DeviceId, now: number): boolean {
    this.#open();
    checkTime(now, 'now');
    const key = pairKey(account, device);
    // Kept past a later sign-in: tokens issued before it never open again (SPEC AUTH-8).
    this.#revocations.set(key, now);
    const registration = this.#registrations.get(key);
    if (registration === undefined || !registration.signedIn) return false;
    this.#registrations.set(key, { ...registration, signedIn: false });
    return true;
  }

  revokedAt(account: AccountId, device: DeviceId): number | null {
    this.#open();
    return this.#revocations.get(pairKey(account, device)) ?? null;
  }

  getRegistration(account: AccountId, device: DeviceId): Registration | null {
    this.#open();
    const registration = this.#registrations.get(pairKey(account, device));
    return registration === undefined ? null : { ...registration };
  }

  devicesOf(account: AccountId): DeviceId[] {
    this.#open();
    const devices: DeviceId[] = [];
    for (const r of this.#registrations.values()) if (r.account === account && r.signedIn) devices.push(r.device);
    return devices.sort(compare);
  }

  registrationsOf(account: AccountId): Registration[] {
    this.#open();
    return [...this.#registrations.values()]
      .filter((r) => r.account === account && r.signedIn)
      .sort(byAccountThenDevice)
      .map((r) => ({ ...r }));
  }

  registrationsOfToken(token: string): Registration[] {
    this.#open();
    return [...this.#registrations.values()]
      .filter((r) => r.address === token)
      .sort(byAccountThenDevice)
      .map((r) => ({ ...r }));
  }

  pushableTokens(): string[] {
    this.#open();
    const tokens = new Set<string>();
    for (const r of this.#registrations.values()) if (isPushable(r)) tokens.add(r.address);
    return [...tokens].sort(compare);
  }

  invalidateToken(token: string, refusal: TokenRefusal): void {
    this.#open();
    for (const [key, r] of this.#registrations) {
      if (refuses(refusal, token, r)) this.#registrations.set(key, { ...r, tokenInvalidReason: refusal.reason });
    }
  }

  getDelivered(token: string): number | null {
    this.#open();
    return this.#delivered.get(token) ?? null;
  }

  clearDelivered(token: string): void {
    this.#open();
    this.#delivered.delete(token);
  }

  setDelivered(token: string, badge: number, at: number): void {
    this.#open();
    checkDelivered(token, badge, at);
    this.#delivered.set(token, badge);
  }

  enqueuePush(entry: OutboxEntry): void {
    this.#open();
    checkOutboxEntry(entry);
    this.#outbox.set(entry.token, { ...entry });
  }

  getPush(token: string): OutboxEntry | null {
    this.#open();
    const entry = this.#outbox.get(token);
    return entry === undefined ? null : { ...entry };
  }

  removePush(token: string, badge: number): void {
    this.#open();
    if (this.#outbox.get(token)?.badge === badge) this.#outbox.delete(token);
  }

  duePushes(now: number, limit: number): OutboxEntry[] {
    this.#open();
    if (!(limit >= 1)) return [];
    return [...this.#outbox.values()]
      .filter((entry) => !entry.parked && entry.dueAt <= now)
      .sort(byDueThenToken)
      .slice(0, Math.floor(limit))
      .map((entry) => ({ ...entry }));
  }

  countPushes(): { pending: number; parked: number } {
    this.#open();
    let parked = 0;
    for (const entry of this.#outbox.values()) if (entry.parked) parked += 1;
    return { pending: this.#outbox.size - parked, parked };
  }

  getMeta(key: string): string | null {
    this.#open();
    return this.#meta.get(key) ?? null;
  }

  setMeta(key: string, value: string): void {
    this.#open();
    this.#meta.set(key, value);
  }

  claimMeta(key: string, value: string): string {
    this.#open();
    const stored = this.#meta.get(key);
    if (stored !== undefined) return stored;
    this.#meta.set(key, value);
    return value;
  }

  close(): void {
    this.#closed = true;
  }
}
