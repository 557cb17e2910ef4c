/**
 * The update bus of cluster mode (SPEC CLUSTER-6..CLUSTER-8): every node publishes each update
 * it committed on one Redis pub/sub channel, `<prefix>updates`, and hands every message of
 * another node to its handler. Pub/sub delivers at most once: a message published while a
 * node's subscription is down is lost for that node. So the bus reports its subscription
 * coming back (`onResubscribed`: the node repairs every loaded account from the database),
 * and per-account seqs (`SeqTracker`) find the holes a lost message leaves.
 *
 * Two connections: a subscribed connection takes no other commands (RESP2), and a publish
 * must not wait behind a resubscription.
 */
import type { AccountId } from '@badgesync/shared';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isNodeId } from './node-id.js';
import { openRedis } from './redis-connection.js';
import { assertRedisPrefix, connectionName, handoverChannel, updatesChannel } from './redis-keys.js';
import { decodeUpdateFrame, encodeUpdateFrame, type UpdateFrame } from './update-frame.js';
import { UpdateFrameError } from './update-frame-error.js';

/**
 * 10 s for the first subscription at start: a reachable Redis answers in milliseconds; a node
 * that cannot reach Redis stops its start with an error instead of serving without its peers.
 */
export const BUS_OPEN_TIMEOUT_MS = 10_000;

export interface UpdateBusOptions {
  readonly redisUrl: string;
  /** Key prefix (`BADGESYNC_REDIS_PREFIX`). */
  readonly prefix: string;
  /** This node's ID: messages carrying it are its own and are not handed back. */
  readonly nodeId: string;
  readonly log: Logger;
  /** Every well-formed message another node published, in the order Redis delivers them. */
  readonly onUpdate: (frame: UpdateFrame) => void;
  /**
   * The subscription is back after a drop: messages published meanwhile were lost for this
   * node. Called once per reconnect, after the subscription is confirmed (so every message
   * published after the call is delivered).
   */
  readonly onResubscribed: () => void;
  /**
   * [CLUSTER-47] Another node handed its push entries over (it is draining): its ID. The
   * message rides the bus's subscription, on a channel of its own.
   */
  readonly onHandover?: (origin: string) => void;
  /** A message refused by the codec (a metrics hook); it is logged either way. */
  readonly onRefused?: (error: UpdateFrameError) => void;
  readonly openTimeoutMs?: number;
}

export class UpdateBus {
  readonly #options: UpdateBusOptions;
  readonly #channel: string;
  readonly #handoverChannel: string;
  readonly #publisher: Redis;
  readonly #subscriber: Redis;
  #subscribedOnce = false;
  #subscribed = false;
  #closed = false;
  #firstSubscription: { resolve: () => void; reject: (error: Error) => void } | undefined;

  private constructor(options: UpdateBusOptions) {
    this.#options = options;
    this.#channel = updatesChannel(options.prefix);
    this.#handoverChannel = handoverChannel(options.prefix);
    this.#publisher = openRedis({
      url: options.redisUrl,
      name: connectionName(options.prefix, 'pub', options.nodeId),
      // A publish while Redis is away waits for the reconnect, then fails after a few
      // attempts: the update is in the database, repair brings it to the other nodes.
      offlineQueue: true,
      maxRetriesPerRequest: 3,
    });
    this.#subscriber = openRedis({
      url: options.redisUrl,
      name: connectionName(options.prefix, 'sub', options.nodeId),
      offlineQueue: true,
      maxRetriesPerRequest: null,
    });
    this.#publisher.on('error', (error: Error) =>
      this.#options.log.warn({ err: error }, 'update bus publisher: redis error'),
    );
    this.#subscriber.on('error', (error: Error) =>
      this.#options.log.warn({ err: error }, 'update bus subscriber: redis error'),
    );
    this.#subscriber.on('ready', () => this.#subscribe());
    this.#subscriber.on('close', () => {
      if (this.#subscribed) this.#options.log.warn('update bus: subscription lost; repairing once it is back');
      this.#subscribed = false;
    });
    this.#subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.#receive(channel, message));
  }

  /** Connects both connections and answers once subscribed (rejects after `openTimeoutMs`). */
  static async open(options: UpdateBusOptions): Promise<UpdateBus> {
    if (!isNodeId(options.nodeId)) throw new RangeError(`bad node ID ${JSON.stringify(options.nodeId)}`);
    assertRedisPrefix(options.prefix);
    const bus = new UpdateBus(options);
    const timeoutMs = options.openTimeoutMs ?? BUS_OPEN_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        bus.#firstSubscription = { resolve, reject };
        timer = setTimeout(
          () => reject(new Error(`update bus: no subscription to ${options.redisUrl} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
    } catch (error) {
      await bus.close();
      throw error;
    } finally {
      clearTimeout(timer);
      bus.#firstSubscription = undefined;
    }
    return bus;
  }

  /** Whether the subscription is up now (false between a drop and its return). */
  get subscribed(): boolean {
    return this.#subscribed;
  }

  /**
   * Publishes one committed update. Never rejects: a failed publish is logged and answers
   * false (the other nodes repair from the database: CLUSTER-4, CLUSTER-5).
   */
  async publish(account: AccountId, seq: number, update: Uint8Array): Promise<boolean> {
    const frame = encodeUpdateFrame({ origin: this.#options.nodeId, account, seq, update });
    try {
      await this.#publisher.publish(this.#channel, Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
      return true;
    } catch (error) {
      this.#options.log.warn(
        { err: error, account, seq },
        'update bus: publish failed; peers repair from the database',
      );
      return false;
    }
  }

  /**
   * [CLUSTER-47] Tells the other nodes this node handed its push entries over. Never rejects:
   * a lost message leaves the entries for the next look at the outbox (false).
   */
  async publishHandover(): Promise<boolean> {
    try {
      await this.#publisher.publish(this.#handoverChannel, this.#options.nodeId);
      return true;
    } catch (error) {
      this.#options.log.warn({ err: error }, 'update bus: hand-over message not published');
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscribed = false;
    await Promise.all([quit(this.#publisher), quit(this.#subscriber)]);
  }

  #subscribe(): void {
    if (this.#closed) return;
    this.#subscriber.subscribe(this.#channel, this.#handoverChannel).then(
      () => {
        // A SUBSCRIBE in flight when the connection dropped is sent again besides this one:
        // the first confirmation of a connection counts, the second changes nothing.
        if (this.#closed || this.#subscribed) return;
        this.#subscribed = true;
        if (!this.#subscribedOnce) {
          this.#subscribedOnce = true;
          this.#firstSubscription?.resolve();
          return;
        }
        this.#options.log.info('update bus: subscription is back; repairing loaded accounts');
        try {
          this.#options.onResubscribed();
        } catch (error) {
          this.#options.log.error({ err: error }, 'update bus: onResubscribed threw');
        }
      },
      // The connection dropped again before Redis confirmed: the next `ready` subscribes.
      (error: unknown) => this.#options.log.warn({ err: error }, 'update bus: subscribe failed; retrying on reconnect'),
    );
  }

  #receive(channel: Buffer, message: Buffer): void {
    if (this.#closed) return;
    const name = channel.toString('latin1');
    if (name === this.#handoverChannel) return this.#handover(message.toString('latin1'));
    if (name !== this.#channel) return;
    let frame: UpdateFrame;
    try {
      frame = decodeUpdateFrame(message);
    } catch (error) {
      if (!(error instanceof UpdateFrameError)) {
        this.#options.log.error({ err: error }, 'update bus: frame decoder threw an uncoded error');
        return;
      }
      this.#options.log.warn({ code: error.code, bytes: message.byteLength }, 'update bus: frame refused');
      this.#options.onRefused?.(error);
      return;
    }
    if (frame.origin === this.#options.nodeId) return;
    try {
      this.#options.onUpdate(frame);
    } catch (error) {
      this.#options.log.error({ err: error, account: frame.account, seq: frame.seq }, 'update bus: handler threw');
    }
  }

  /** [CLUSTER-47] A hand-over message: another node's ID, else it is dropped. */
  #handover(origin: string): void {
    if (!isNodeId(origin)) {
      this.#options.log.warn('update bus: hand-over message refused (not a node ID)');
      return;
    }
    if (origin === this.#options.nodeId) return;
    try {
      this.#options.onHandover?.(origin);
    } catch (error) {
      this.#options.log.error({ err: error, origin }, 'update bus: hand-over handler threw');
    }
  }
}

/** QUIT, or a hard disconnect when Redis is not there to answer it. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'ready') {
    try {
      await redis.quit();
      return;
    } catch {
      // fall through: the connection is going away anyway
    }
  }
  redis.disconnect();
}
