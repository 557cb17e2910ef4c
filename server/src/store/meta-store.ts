/** The store's own settings, kept with the data it describes (SPEC STORE-9). */
export interface MetaStore {
  /** [STORE-9] Small settings kept with the data (generated secrets, …). */
  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;
}
