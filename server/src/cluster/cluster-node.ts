/**
 * Opens what a node of the cluster needs besides its HTTP server (docs/CLUSTER.md): the link
 * to its peers over the update bus, and the cluster-wide presence directory, on the shared
 * PostgreSQL store. `main.ts` calls it when BADGESYNC_REDIS_URL is set.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { NotReady, type ReadinessProbe } from '../http/readiness.js';
import type { AccountRoom } from '../rooms/account-room.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { shortAddress } from '../store/push-address.js';
import type { OutboxEntry } from '../store/store.js';
import { ClusterLink } from './cluster-link.js';
import { defaultNodeId } from './node-id.js';
import { PresenceDirectory } from './presence-directory.js';
import { ServerClientLeases } from './server-client-leases.js';
import { UpdateBus } from './update-bus.js';

/**
 * How long a node holds the outbox entries it claimed (ClusterStore.claimDuePushes): longer
 * than one push takes at worst (the longest send timeout, FCM's 15 s, and the answer's write),
 * so no other node sends an entry that is being sent; no longer, because a killed node's claims
 * pass to the others only when it ends (a new badge value clears a claim at once, CLUSTER-44).
 */
export const PUSH_CLAIM_LEASE_MS = 20_000;

/** One node's part of the cluster. */
export interface ClusterNode {
  readonly nodeId: string;
  readonly link: ClusterLink<AccountRoom>;
  /** [CLUSTER-60] The server client IDs this node's rooms write under, leased per load. */
  readonly leases: ServerClientLeases;
  /** [STORE-43] A v1 document's migration, under the account's lock (RoomDeps.migrateDoc). */
  readonly migrateDoc: ClusterStore['migrateDoc'];
  /** What /readyz checks: the database and Redis. */
  readonly probes: readonly ReadinessProbe[];
  /** Due outbox entries, claimed for this node (the push scheduler's way to take them). */
  claimDue(now: number, limit: number): Promise<OutboxEntry[]>;
  /**
   * [CLUSTER-46] On SIGTERM, once push has closed: clears this node's claims, makes the waiting
   * entries of `tokens` due at once, and tells the other nodes (CLUSTER-47). Answers how many
   * entries changed.
   */
  handOverPushes(tokens: readonly string[]): Promise<number>;
  /** [CLUSTER-47] `listener` runs when another node handed entries over, or the bus came back. */
  onOutboxChanged(listener: () => void): void;
  /** Stops syncing, drops this node's presence at once, closes its Redis connections. */
  close(): Promise<void>;
}

export async function openClusterNode(config: Config, store: ClusterStore, log: Logger): Promise<ClusterNode> {
  const redisUrl = config.redisUrl;
  if (redisUrl === null) throw new Error('openClusterNode needs BADGESYNC_REDIS_URL');
  const nodeId = config.nodeId ?? defaultNodeId();
  const prefix = config.redisPrefix;
  const nodeLog = log.child({ node: nodeId });
  // The bus hands messages to the link, which publishes through the bus: the link comes first,
  // its publisher is the bus once open (nothing is committed before the server starts).
  let bus: UpdateBus | null = null;
  let outboxChanged: () => void = () => {};
  const presence = await PresenceDirectory.open({ redisUrl, prefix, nodeId, log: nodeLog });
  const link = new ClusterLink<AccountRoom>({
    nodeId,
    store,
    bus: {
      publish: async (account, seq, update) => {
        if (bus === null) throw new Error('update bus not open yet');
        await bus.publish(account, seq, update);
      },
    },
    presence,
    log: nodeLog,
  });
  try {
    bus = await UpdateBus.open({
      redisUrl,
      prefix,
      nodeId,
      log: nodeLog,
      onUpdate: (frame) => link.received(frame),
      onResubscribed: () => {
        link.resubscribed();
        // A hand-over published while the subscription was down was lost for this node.
        outboxChanged();
      },
      onHandover: () => outboxChanged(),
    });
  } catch (err) {
    await presence.close();
    throw err;
  }
  const openBus = bus;
  const leases = new ServerClientLeases({ store, nodeId, log: nodeLog });
  nodeLog.info({ prefix }, 'joined the cluster');
  return {
    nodeId,
    link,
    leases,
    migrateDoc: (account, convert) => store.migrateDoc(account, convert),
    probes: [
      { reason: NotReady.database, check: () => store.ping() },
      // The bus's subscription: down from a drop until the bus has resubscribed (and repaired).
      { reason: NotReady.redis, check: async () => openBus.subscribed },
    ],
    claimDue: async (now, limit) => {
      const claimed = await store.claimDuePushes(nodeId, now, limit, PUSH_CLAIM_LEASE_MS);
      // Trace (docs/CLUSTER.md "Tracing"): which node took which phone's push.
      if (claimed.length > 0) nodeLog.debug({ tokens: claimed.map((e) => shortAddress(e.token)) }, 'push claimed');
      return claimed;
    },
    async handOverPushes(tokens) {
      const changed = await store.handOverPushes(nodeId, tokens, Date.now());
      if (changed > 0) await openBus.publishHandover();
      return changed;
    },
    onOutboxChanged(listener) {
      outboxChanged = listener;
    },
    async close() {
      link.close();
      leases.close();
      await presence.close();
      await openBus.close();
    },
  };
}
