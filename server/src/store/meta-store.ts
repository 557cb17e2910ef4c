/** The store's own settings, kept with the data it describes (SPEC STORE-9). */
export interface MetaStore {
  /** [STORE-9] Small settings kept with the data (generated secrets, …). */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
  /**
   * [STORE-30] Stores `value` under `key` unless a value is stored there already, atomically,
   * and answers the value stored: the first of several processes claiming one key (cluster
   * nodes generating a secret as they start together) wins, and every one of them gets its value.
   */
  claimMeta(key: string, value: string): string;
}
