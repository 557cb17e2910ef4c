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
 * pass to the others only when it ends (taken at their next outbox look, CLUSTER-53; a new badge
 * value clears a claim at once, CLUSTER-44).
 */
export const PUSH_CLAIM_LEASE_MS = 20_000;

/**
 * [CLUSTER-53] How often a node looks at the outbox without being told to. A node reads the
 * outbox after its own events only: an entry queued (or claimed) by a node killed with
 * `kill -9` is nobody's event, and without this look it would wait for the account's next
 * change. 5 s keeps such a badge within lease + 5 s of its due time (a queued one within 5 s),
 * for one indexed read (and a count) per node every 5 s.
 */
export const OUTBOX_POLL_MS = 5_000;

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
  /** [CLUSTER-54] The outbox by when this node may claim each entry (another node's live claim holds it). */
  peekDue(limit: number): Promise<OutboxEntry[]>;
  /** [CLUSTER-55] Gives back this node's claims on `tokens` (claimed, not sent). */
  releaseDue(tokens: readonly string[]): Promise<void>;
  /**
   * [CLUSTER-46] On SIGTERM, once push has closed: clears this node's claims, makes the waiting
   * entries of `tokens` due at once, and tells the other nodes (CLUSTER-47). Answers how many
   * entries changed.
   */
  handOverPushes(tokens: readonly string[]): Promise<number>;
  /**
   * [CLUSTER-47] `listener` runs when another node handed entries over, or the bus came back;
   * [CLUSTER-53] and every OUTBOX_POLL_MS.
   */
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
  // [CLUSTER-53] Entries a killed node left queued or claimed are nobody's event: looked at anyway.
  const poll = setInterval(() => outboxChanged(), OUTBOX_POLL_MS);
  poll.unref();
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
    peekDue: (limit) => store.peekPushes(nodeId, Date.now(), limit),
    async releaseDue(tokens) {
      await store.releasePushes(nodeId, tokens);
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
      clearInterval(poll);
      link.close();
      leases.close();
      await presence.close();
      await openBus.close();
    },
  };
}
