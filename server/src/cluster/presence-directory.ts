/**
 * Cluster-wide presence (SPEC CLUSTER-9..CLUSTER-11): which (account, device) pairs hold a
 * live sync connection on some node. Each node counts its own connections in memory and
 * keeps Redis in step with that count's zero / non-zero edge:
 *
 * - `<prefix>presence:<account>/<device>`: a hash, one field per node holding the device;
 * - `<prefix>node:<node>`: exists while the node heartbeats (expires after `nodeTtlMs`);
 * - `<prefix>node-devices:<node>`, `<prefix>nodes`: what a sweep needs to clean up after a
 *   dead node.
 *
 * A device is online when a node named in its hash still has its key, so a killed node's
 * devices go offline when its key expires, without anyone cleaning up first. When the node
 * finds its key gone (Redis restarted empty, or the node stalled past the TTL), or one of its
 * writes failed, it writes its whole memory again (RESYNC).
 */
import type { AccountId, DeviceId } from '@badgesync/shared';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isNodeId } from './node-id.js';
import { IS_ONLINE, LEAVE, RESYNC, SWEEP } from './presence-scripts.js';
import { openRedis } from './redis-connection.js';
import { assertRedisPrefix, connectionName, nodeDevicesKey, nodeKey, nodesKey, presenceKey } from './redis-keys.js';
import { runScript } from './redis-script.js';

/**
 * 5 s between heartbeats: three fit in one `NODE_TTL_MS`, so a late or lost one (a GC pause,
 * a reconnect) never expires a live node; and a node that lost its presence (Redis restarted
 * empty) writes it again within 5 s.
 */
export const PRESENCE_HEARTBEAT_MS = 5_000;

/**
 * 15 s: the bound on how long a killed node's devices still count as online, i.e. how late
 * their badge push can be. Of the same order as a dead phone connection's own bound (SYNC-8:
 * 2.25 × 10 s), so node death adds no worse delay than a lost network.
 */
export const NODE_TTL_MS = 15_000;

/**
 * 60 s between sweeps of dead nodes' leftovers: they already count as offline (their node key
 * expired), the sweep only frees their memory in Redis, so it may be rare.
 */
export const PRESENCE_SWEEP_MS = 60_000;

export interface PresenceDirectoryOptions {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly nodeId: string;
  readonly log: Logger;
  readonly heartbeatMs?: number;
  readonly nodeTtlMs?: number;
  readonly sweepMs?: number;
}

interface Held {
  readonly key: string;
  count: number;
}

export class PresenceDirectory {
  readonly #options: PresenceDirectoryOptions;
  readonly #redis: Redis;
  readonly #heartbeatMs: number;
  readonly #nodeTtlMs: number;
  readonly #sweepMs: number;
  readonly #nodeKey: string;
  readonly #nodesKey: string;
  readonly #nodeDevicesKey: string;
  /** Connections this node holds, per presence key. */
  readonly #held = new Map<string, Held>();
  /** A presence write failed: Redis may disagree with #held until the next RESYNC. */
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #beating: Promise<void> = Promise.resolve();
  #nextSweep = 0;
  #closed = false;

  private constructor(options: PresenceDirectoryOptions) {
    this.#options = options;
    this.#heartbeatMs = options.heartbeatMs ?? PRESENCE_HEARTBEAT_MS;
    this.#nodeTtlMs = options.nodeTtlMs ?? NODE_TTL_MS;
    this.#sweepMs = options.sweepMs ?? PRESENCE_SWEEP_MS;
    if (this.#heartbeatMs * 2 > this.#nodeTtlMs) {
      throw new RangeError('the node TTL must cover at least two heartbeats');
    }
    this.#nodeKey = nodeKey(options.prefix, options.nodeId);
    this.#nodesKey = nodesKey(options.prefix);
    this.#nodeDevicesKey = nodeDevicesKey(options.prefix, options.nodeId);
    this.#redis = openRedis({
      url: options.redisUrl,
      name: connectionName(options.prefix, 'presence', options.nodeId),
      offlineQueue: true,
      // A write waits through a few reconnects, then fails and marks the directory dirty: the
      // next heartbeat that reaches Redis writes the node's whole presence again.
      maxRetriesPerRequest: 3,
    });
    this.#redis.on('error', (error: Error) => options.log.warn({ err: error }, 'presence: redis error'));
  }

  /** Registers the node (its key, an empty presence) and starts its heartbeat. */
  static async open(options: PresenceDirectoryOptions): Promise<PresenceDirectory> {
    if (!isNodeId(options.nodeId)) throw new RangeError(`bad node ID ${JSON.stringify(options.nodeId)}`);
    assertRedisPrefix(options.prefix);
    const directory = new PresenceDirectory(options);
    try {
      await directory.#resync();
    } catch (error) {
      directory.#redis.disconnect();
      throw error;
    }
    directory.#nextSweep = Date.now() + directory.#sweepMs;
    directory.#schedule();
    return directory;
  }

  /** A connection of `device` to `account` opened on this node. */
  async online(account: AccountId, device: DeviceId): Promise<void> {
    const key = presenceKey(this.#options.prefix, account, device);
    const held = this.#held.get(key);
    if (held) {
      held.count += 1;
      return;
    }
    this.#held.set(key, { key, count: 1 });
    // Trace (docs/CLUSTER.md "Tracing"): the edges this node writes.
    this.#options.log.debug({ account, device }, 'presence: online here');
    await this.#write(this.#redis.multi().hset(key, this.#options.nodeId, '1').sadd(this.#nodeDevicesKey, key));
  }

  /** A connection of `device` to `account` on this node closed. */
  async offline(account: AccountId, device: DeviceId): Promise<void> {
    const key = presenceKey(this.#options.prefix, account, device);
    const held = this.#held.get(key);
    if (!held) return;
    held.count -= 1;
    if (held.count > 0) return;
    this.#held.delete(key);
    this.#options.log.debug({ account, device }, 'presence: offline here');
    await this.#write(this.#redis.multi().hdel(key, this.#options.nodeId).srem(this.#nodeDevicesKey, key));
  }

  /** True when some live node (this one included) holds a connection of `device` to `account`. */
  async isOnline(account: AccountId, device: DeviceId): Promise<boolean> {
    const key = presenceKey(this.#options.prefix, account, device);
    const answer = await runScript(this.#redis, IS_ONLINE, [key], [nodeKey(this.#options.prefix, '')]);
    return answer === 1;
  }

  /** How many (account, device) pairs this node holds (for metrics and tests). */
  get heldCount(): number {
    return this.#held.size;
  }

  /** Leaves the cluster's presence: every device of this node goes offline at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#beating;
    this.#held.clear();
    try {
      if (this.#redis.status === 'ready') {
        await runScript(
          this.#redis,
          LEAVE,
          [this.#nodeKey, this.#nodesKey, this.#nodeDevicesKey],
          [this.#options.nodeId],
        );
        await this.#redis.quit();
        return;
      }
    } catch (error) {
      this.#options.log.warn({ err: error }, 'presence: leave failed; the node key expires on its own');
    }
    this.#redis.disconnect();
  }

  async #write(transaction: ReturnType<Redis['multi']>): Promise<void> {
    try {
      const results = await transaction.exec();
      for (const [error] of results ?? []) if (error) throw error;
      if (results === null) throw new Error('transaction aborted');
    } catch (error) {
      this.#dirty = true;
      this.#options.log.warn({ err: error }, 'presence: write failed; rewriting this node on its next heartbeat');
    }
  }

  async #resync(): Promise<void> {
    this.#dirty = false;
    const keys = [...this.#held.keys()];
    try {
      await runScript(
        this.#redis,
        RESYNC,
        [this.#nodeKey, this.#nodesKey, this.#nodeDevicesKey, ...keys],
        [this.#options.nodeId, this.#nodeTtlMs],
      );
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#beating = this.#beat().finally(() => this.#schedule());
    }, this.#heartbeatMs);
    // The heartbeat alone never keeps a process alive; close() stops it.
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    try {
      if (this.#dirty) {
        await this.#resync();
        this.#options.log.info({ devices: this.#held.size }, 'presence: rewritten after a failed write');
      } else if ((await this.#redis.pexpire(this.#nodeKey, this.#nodeTtlMs)) === 0) {
        await this.#resync();
        this.#options.log.warn(
          { devices: this.#held.size },
          'presence: node key had expired (Redis restarted, or this node stalled); rewritten',
        );
      }
      if (Date.now() >= this.#nextSweep) {
        this.#nextSweep = Date.now() + this.#sweepMs;
        const swept = await runScript(
          this.#redis,
          SWEEP,
          [this.#nodesKey],
          [nodeKey(this.#options.prefix, ''), nodeDevicesKey(this.#options.prefix, '')],
        );
        if (swept !== 0) this.#options.log.info({ nodes: swept }, 'presence: swept dead nodes');
      }
    } catch (error) {
      this.#options.log.warn({ err: error }, 'presence: heartbeat failed; retrying');
    }
  }
}
