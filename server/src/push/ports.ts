/**
 * The interfaces between the account rooms, the backend API and push: what each tells push,
 * and what push is given to do its work. The rooms, the API, push and the server that wires
 * them import these from here, and this file imports none of them, so no two parts import
 * each other (server/test/import-cycles.test.ts keeps it so).
 */
import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { OutboxEntry, PushWrite, Store } from '../store/store.js';

/** What an account room tells push about its account. */
export interface RoomEvents {
  /** The account's counts changed and the change is on disk. */
  countsCommitted(account: AccountId, counts: AccountCounts): void;
  /** A device's first live connection to the account opened. */
  deviceOnline(account: AccountId, device: DeviceId): void;
  /** A device's last live connection to the account closed. */
  deviceOffline(account: AccountId, device: DeviceId): void;
}

/** What device registration (the backend API) tells push. */
export interface DeviceHooks {
  /**
   * `fresh`: a new push address, one valid again, or badges turned on — its push service has
   * shown it nothing yet. `previousToken`: the registration's push address before, whose
   * phone may have to drop the account from its badge.
   */
  deviceRegistered(account: AccountId, device: DeviceId, fresh: boolean, previousToken: string | null): void;
  deviceSignedOut(account: AccountId, device: DeviceId): void;
}

/** Everything push needs to hear: counts, presence, registrations. */
export interface PushHooks extends RoomEvents, DeviceHooks {
  /** Called once the server listens: resumes the outbox. */
  start(): void;
  /**
   * [CLUSTER-47] Another node changed the outbox under this one (it handed its entries over on
   * SIGTERM): look at the outbox again now. Optional: a push without an outbox ignores it.
   */
  outboxChanged?(): void;
  /**
   * [CLUSTER-46] After close(): the push addresses this node queued and had not settled, whose
   * entries a draining cluster node hands over to the others (none when absent).
   */
  pendingTokens?(): readonly string[];
  close(): Promise<void>;
}

/**
 * Where push's store writes go: into the server's group commit (one fsync per turn with
 * everything else), and what runs once they are on disk.
 */
export interface PushWrites {
  /** [STORE-17] A push-state write, as data: it joins the batch the commit thread writes. */
  write(write: PushWrite): void;
  afterWrites(callback: () => void): void;
}

/** What the server gives push when it builds it. */
export interface PushContext {
  readonly store: Store;
  /**
   * How due outbox entries are taken (default: `store.duePushes`). A cluster node claims them
   * (ClusterStore.claimDuePushes), so two nodes never send one entry.
   */
  readonly takeDue?: (now: number, limit: number) => Promise<OutboxEntry[]>;
  /** [CLUSTER-54] The timer's peek at the outbox, live claims of other nodes counted (a cluster node). */
  readonly peekDue?: (limit: number) => Promise<OutboxEntry[]>;
  /** [CLUSTER-55] Gives back claims taken and not sent (a cluster node). */
  readonly releaseDue?: (tokens: readonly string[]) => Promise<void>;
  readonly metrics: Metrics;
  readonly log: Logger;
  /**
   * Whether the device has a live connection to the account: answered by the rooms (built
   * after push: push must not ask while it is being built), or, in a cluster, by the presence
   * directory every node shares (a promise).
   */
  readonly isOnline: (account: AccountId, device: DeviceId) => boolean | Promise<boolean>;
  /** Push-state writes join the group commit. */
  readonly writes: PushWrites;
}

/** Builds push once the server's parts exist, before the rooms and the API that call it. */
export type PushFactory = (ctx: PushContext) => PushHooks;
