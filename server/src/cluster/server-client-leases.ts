import { randomInt } from 'node:crypto';
import type { AccountId } from '@badgesync/shared';
import { MAX_CLIENT_ID } from '@badgesync/shared';
import type { Logger } from 'pino';
import { guarded } from '../guard.js';
import type { ServerClientLeasing } from '../rooms/server-client-leasing.js';
import type { ClusterStore, ServerClientLease } from '../store/cluster-store.js';

/**
 * How long a take or renewal of a server client ID lease holds (the database's clock). A killed
 * node's IDs are taken again only after it: meanwhile another node loading one of its accounts
 * draws a new ID (one more binding), so a minute bounds that cost to the loads of one minute.
 * Long enough that renewals (SERVER_CLIENT_RENEW_MS) can fail several times in a row, each
 * waiting up to the 30 s statement timeout, before a live node's lease lapses. A lapse is safe
 * either way (SPEC CLUSTER-61): it only costs the node that held it a reload of the room.
 */
export const SERVER_CLIENT_LEASE_MS = 60_000;
/**
 * How often a node renews every lease it holds (one statement for all): four renewals per lease
 * period, so three in a row may fail or stall before a lease lapses.
 */
export const SERVER_CLIENT_RENEW_MS = 15_000;
/**
 * New IDs tried per take when no drawn ID is free: each is taken only if nothing holds or is
 * bound to it; 2^-31-ish odds per collision, so eight never all collide in practice.
 */
const DRAWS_PER_TAKE = 8;

export type LeaseStore = Pick<ClusterStore, 'takeServerClient' | 'renewServerClients' | 'releaseServerClient'>;

export interface ServerClientLeasesDeps {
  readonly store: LeaseStore;
  readonly nodeId: string;
  readonly log: Logger;
  /** Default SERVER_CLIENT_LEASE_MS. */
  readonly leaseMs?: number;
  /** Default SERVER_CLIENT_RENEW_MS. */
  readonly renewMs?: number;
}

/**
 * One node's server client ID leases (SPEC CLUSTER-60, CLUSTER-61): taken as a room loads,
 * renewed together every SERVER_CLIENT_RENEW_MS while the room is loaded, released when it
 * unloads. A renewal that finds a lease taken by another node tells its room, which reloads.
 */
export class ServerClientLeases implements ServerClientLeasing {
  readonly #held = new Map<string, { readonly lease: ServerClientLease; readonly lost: () => void }>();
  /** Releases not answered yet. */
  readonly #releasing = new Set<Promise<unknown>>();
  readonly #timer: NodeJS.Timeout;
  readonly #leaseMs: number;
  #renewing = false;

  constructor(private readonly deps: ServerClientLeasesDeps) {
    this.#leaseMs = deps.leaseMs ?? SERVER_CLIENT_LEASE_MS;
    this.#timer = setInterval(
      guarded(deps.log, 'server client lease renewal', () => {
        this.renew().catch((err: unknown) =>
          // The leases may lapse: safe (CLUSTER-61), the next renewal tries again.
          deps.log.warn({ err }, 'server client lease renewal failed'),
        );
      }),
      deps.renewMs ?? SERVER_CLIENT_RENEW_MS,
    );
    this.#timer.unref();
  }

  /** Leases held now (tests, metrics). */
  get size(): number {
    return this.#held.size;
  }

  async take(account: AccountId, lost: () => void): Promise<ServerClientLease> {
    const draws = Array.from({ length: DRAWS_PER_TAKE }, () => randomInt(1, MAX_CLIENT_ID));
    const lease = await this.deps.store.takeServerClient(account, this.deps.nodeId, this.#leaseMs, draws);
    this.#held.set(lease.lease, { lease, lost });
    return lease;
  }

  release(lease: ServerClientLease): void {
    if (!this.#held.delete(lease.lease)) return;
    const releasing = this.deps.store
      .releaseServerClient(lease)
      .catch((err: unknown) =>
        this.deps.log.warn({ err, account: lease.account }, 'server client release failed; it lapses with its lease'),
      )
      .finally(() => this.#releasing.delete(releasing));
    this.#releasing.add(releasing);
  }

  /** Settles once every release asked so far was answered (never rejects). */
  async released(): Promise<void> {
    await Promise.all([...this.#releasing]);
  }

  /** Renews every lease held; tells the rooms whose lease another node took meanwhile. */
  async renew(): Promise<void> {
    if (this.#renewing || this.#held.size === 0) return;
    this.#renewing = true;
    try {
      const asked = [...this.#held.keys()];
      const renewed = await this.deps.store.renewServerClients(this.deps.nodeId, asked, this.#leaseMs);
      for (const token of asked) {
        const held = this.#held.get(token);
        if (held === undefined || renewed.has(token)) continue;
        this.#held.delete(token);
        this.deps.log.warn({ account: held.lease.account }, 'server client lease lost: the room reloads');
        held.lost();
      }
    } finally {
      this.#renewing = false;
    }
  }

  /** Stops renewing (shutdown: the rooms release their leases as they unload). */
  close(): void {
    clearInterval(this.#timer);
  }
}
