import type { AccountId, DeviceId } from '@badgesync/shared';
import type { DevicePatch, TokenRefusal } from './device-registry.js';
import type { DocReplacement } from './document-log.js';
import type { OutboxEntry } from './push-outbox.js';
import type { Store, SyncStore } from './store.js';
import type { WriteBatch } from './write-batch.js';

/** Runs `call` now and hands its answer (or its throw) over as a promise. */
function answer<T>(call: () => T): Promise<T> {
  try {
    return Promise.resolve(call());
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * A SyncStore in the form the server uses (store.ts `Store`): each call runs at once, on the
 * caller's turn, and its answer is handed over as a settled promise. So reads and writes keep
 * the order they were called in, and a read called after commit() sees that batch (STORE-18)
 * — as with the SyncStore itself. close() waits for the batches on the commit thread.
 */
class SyncStoreAdapter implements Store {
  readonly #commits = new Set<Promise<void>>();

  constructor(readonly sync: SyncStore) {}

  commit(batch: WriteBatch, holdMs = 0): Promise<void> {
    let written: Promise<void> | null;
    try {
      written = this.sync.commitAsync(batch, holdMs);
    } catch (err) {
      return Promise.reject(err);
    }
    if (written === null) return Promise.resolve();
    this.#commits.add(written);
    const settle = (): void => {
      this.#commits.delete(written);
    };
    written.then(settle, settle);
    return written;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#commits]);
    this.sync.close();
  }

  loadDoc(account: AccountId) {
    return answer(() => this.sync.loadDoc(account));
  }
  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number) {
    return answer(() => this.sync.compact(account, snapshot, throughLogId));
  }
  replaceDoc(account: AccountId, replacement: DocReplacement) {
    return answer(() => this.sync.replaceDoc(account, replacement));
  }
  loadBindings(account: AccountId) {
    return answer(() => this.sync.loadBindings(account));
  }
  getCounts(account: AccountId) {
    return answer(() => this.sync.getCounts(account));
  }
  getBadges(accounts: readonly AccountId[]) {
    return answer(() => this.sync.getBadges(accounts));
  }
  getIdempotent(account: AccountId, key: string, notBefore: number) {
    return answer(() => this.sync.getIdempotent(account, key, notBefore));
  }
  purgeIdempotent(before: number) {
    return answer(() => this.sync.purgeIdempotent(before));
  }
  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number) {
    return answer(() => this.sync.putDevice(account, device, patch, now));
  }
  signOut(account: AccountId, device: DeviceId, now: number) {
    return answer(() => this.sync.signOut(account, device, now));
  }
  revokedAt(account: AccountId, device: DeviceId) {
    return answer(() => this.sync.revokedAt(account, device));
  }
  getRegistration(account: AccountId, device: DeviceId) {
    return answer(() => this.sync.getRegistration(account, device));
  }
  devicesOf(account: AccountId) {
    return answer(() => this.sync.devicesOf(account));
  }
  registrationsOf(account: AccountId) {
    return answer(() => this.sync.registrationsOf(account));
  }
  registrationsOfToken(address: string) {
    return answer(() => this.sync.registrationsOfToken(address));
  }
  pushableTokens() {
    return answer(() => this.sync.pushableTokens());
  }
  invalidateToken(address: string, refusal: TokenRefusal) {
    return answer(() => this.sync.invalidateToken(address, refusal));
  }
  getDelivered(token: string) {
    return answer(() => this.sync.getDelivered(token));
  }
  setDelivered(token: string, badge: number, at: number) {
    return answer(() => this.sync.setDelivered(token, badge, at));
  }
  clearDelivered(token: string) {
    return answer(() => this.sync.clearDelivered(token));
  }
  enqueuePush(entry: OutboxEntry) {
    return answer(() => this.sync.enqueuePush(entry));
  }
  getPush(token: string) {
    return answer(() => this.sync.getPush(token));
  }
  removePush(token: string, badge: number) {
    return answer(() => this.sync.removePush(token, badge));
  }
  duePushes(now: number, limit: number) {
    return answer(() => this.sync.duePushes(now, limit));
  }
  countPushes() {
    return answer(() => this.sync.countPushes());
  }
  getMeta(key: string) {
    return answer(() => this.sync.getMeta(key));
  }
  setMeta(key: string, value: string) {
    return answer(() => this.sync.setMeta(key, value));
  }
  claimMeta(key: string, value: string) {
    return answer(() => this.sync.claimMeta(key, value));
  }
}

/** The store the server uses, over an embedded SyncStore (SQLite or memory). */
export function asyncStore(sync: SyncStore): Store {
  return new SyncStoreAdapter(sync);
}
