import type { AccountId, DeviceId } from '@badgesync/shared';
import type { Registration } from './device-registry.js';

/**
 * Most answers kept per kind of read when caching (devices of an account, registrations of an
 * account, one registration, registrations of a push address). An answer is a few hundred bytes
 * (an account's registrations: that per device), so a full cache of each kind is ~15 MB;
 * accounts whose counts change less often than the 50,000 most recent others' are read from the
 * store again, as every one was before the cache.
 */
export const REGISTRATION_CACHE_ENTRIES = 50_000;

/**
 * [PUSH-23] The registration reads push makes on every counts change (registrationsOf) and
 * every push decision (registrationsOfToken), and the others of one registration or an
 * account's devices (getRegistration, devicesOf), answered from memory once
 * read. Valid only for a store this process is the only writer of: the server's SqliteStore
 * keeps one (`cacheRegistrations`: the embedded mode is one process per database file, whose
 * rooms hold the documents in memory; another connection to the file, a reader of what it
 * holds now, keeps none), and
 * each of its writes of registrations (putDevice, signOut, invalidateToken, a batch carrying a
 * token refusal, a transaction undone) drops the answers it may change before it returns, so
 * a read never answers what the file no longer holds. A store other processes write
 * (PostgreSQL, the cluster mode) keeps none: a registration written on another node would stay
 * invisible here until evicted. MemoryStore is memory already.
 */
export class RegistrationCache {
  /** `maxEntries`: most answers kept per kind of read; 0 keeps none (every read goes to the store). */
  constructor(private readonly maxEntries: number) {}

  /** Devices signed in to the account, sorted (devicesOf). */
  readonly #devices = new Map<AccountId, readonly DeviceId[]>();
  /** The registrations of the devices signed in to an account, sorted by device (registrationsOf). */
  readonly #byAccount = new Map<AccountId, readonly Registration[]>();
  /** One registration (or null: none) by account + device. */
  readonly #registrations = new Map<string, Registration | null>();
  /** Registrations carrying a push address, sorted by account, device. */
  readonly #byAddress = new Map<string, readonly Registration[]>();

  devicesOf(account: AccountId, read: () => DeviceId[]): DeviceId[] {
    return [...this.#remembered(this.#devices, account, read)];
  }

  registrationsOf(account: AccountId, read: () => Registration[]): Registration[] {
    return this.#remembered(this.#byAccount, account, read).map((r) => ({ ...r }));
  }

  getRegistration(account: AccountId, device: DeviceId, read: () => Registration | null): Registration | null {
    const registration = this.#remembered(this.#registrations, pairKey(account, device), read);
    return registration === null ? null : { ...registration };
  }

  registrationsOfToken(address: string, read: () => Registration[]): Registration[] {
    return this.#remembered(this.#byAddress, address, read).map((r) => ({ ...r }));
  }

  /**
   * The device's registration in the account changed (registered, moved to another address,
   * signed out): its answers, its account's devices and registrations, and the registrations of
   * the addresses it carried before and after.
   */
  registrationChanged(account: AccountId, device: DeviceId, addresses: ReadonlyArray<string | null>): void {
    this.#devices.delete(account);
    this.#byAccount.delete(account);
    this.#registrations.delete(pairKey(account, device));
    for (const address of addresses) if (address !== null) this.#byAddress.delete(address);
  }

  /**
   * The push service refused the address: every registration that carried it may have changed,
   * and with it the registrations of its account.
   */
  addressRefused(address: string, carriers: readonly Registration[]): void {
    this.#byAddress.delete(address);
    for (const r of carriers) {
      this.#registrations.delete(pairKey(r.account, r.device));
      this.#byAccount.delete(r.account);
    }
  }

  /** The map's answer for `key`, read and kept when it has none; the most recently used stay. */
  #remembered<K, V>(map: Map<K, V>, key: K, read: () => V): V {
    if (map.has(key)) {
      const value = map.get(key) as V;
      map.delete(key);
      map.set(key, value);
      return value;
    }
    const value = read();
    if (this.maxEntries === 0) return value;
    map.set(key, value);
    if (map.size > this.maxEntries) map.delete(map.keys().next().value as K);
    return value;
  }

  /** Forgets every answer. */
  clear(): void {
    this.#devices.clear();
    this.#byAccount.clear();
    this.#registrations.clear();
    this.#byAddress.clear();
  }
}

function pairKey(account: AccountId, device: DeviceId): string {
  return `${account}\u0000${device}`;
}
