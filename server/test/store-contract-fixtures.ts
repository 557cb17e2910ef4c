/** Helpers the store contract suites share, over the store as the server uses it (async). */
import type { AccountId } from '@badgesync/shared';
import type { Store } from '../src/store/index.js';

/** Builds the store one contract test runs on (fresh, empty). */
export type MakeStore = () => Store | Promise<Store>;

export interface ContractOptions {
  /** Tests skipped, by exact title, where an implementation differs on purpose (said why where it is run). */
  readonly differs?: ReadonlySet<string>;
}

/** Those of `accounts` with a stored document (a snapshot or a logged update). */
export async function withDocuments(store: Store, accounts: readonly AccountId[]): Promise<AccountId[]> {
  const docs = await Promise.all(accounts.map((account) => store.loadDoc(account)));
  return accounts.filter((_, i) => (docs[i]?.updates.length ?? 0) > 0);
}

/**
 * Earliest dueAt among pending, not parked outbox entries; null when none. The server never
 * asks (its timer follows duePushes), so it is read here through duePushes, oldest due first.
 */
export async function nextDueAt(store: Store): Promise<number | null> {
  return (await store.duePushes(Number.MAX_SAFE_INTEGER, 1))[0]?.dueAt ?? null;
}
