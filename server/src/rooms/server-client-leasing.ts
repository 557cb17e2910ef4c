import type { AccountId } from '@badgesync/shared';
import type { ServerClientLease } from '../store/cluster-store.js';

/**
 * Cluster mode (docs/CLUSTER.md "Server client IDs", SPEC CLUSTER-60, CLUSTER-61): the server
 * client IDs of an account, leased per room load, so a load writes under an ID another node used
 * before instead of binding a new one, and two nodes never write under one ID.
 */
export interface ServerClientLeasing {
  /**
   * Leases a server client ID of the account to this node, renewed while it is held. `lost`
   * runs once when a renewal finds it taken by another node (it lapsed meanwhile).
   */
  take(account: AccountId, lost: () => void): Promise<ServerClientLease>;
  /** Frees the ID for any node (never rejects: a failed release lapses with its lease). */
  release(lease: ServerClientLease): void;
}
