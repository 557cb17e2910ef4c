import type { AccountId } from '@badgesync/shared';

/** Answers remembered per idempotency key (SPEC STORE-6); written through WriteBatch. */
export interface IdempotencyStore {
  /** [STORE-6] The answer stored for (account, key) if given at or after `notBefore`. */
  getIdempotent(account: AccountId, key: string, notBefore: number): string | null;
  /** Deletes idempotency answers older than `before`; returns how many. */
  purgeIdempotent(before: number): number;
}
