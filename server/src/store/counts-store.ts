import type { AccountCounts, AccountId } from '@badgesync/shared';

/** The counts derived from each account's document, as last committed (SPEC STORE-5). */
export interface CountsStore {
  /** [STORE-5] Stored counts; null for an account never counted. */
  getCounts(account: AccountId): AccountCounts | null;
  /** Stored badge of several accounts at once (missing accounts: 0). */
  getBadges(accounts: readonly AccountId[]): Map<AccountId, number>;
}
