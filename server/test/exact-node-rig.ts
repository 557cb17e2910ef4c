/**
 * A node of the cluster as far as exact ingest and counts go (docs/CLUSTER.md "Exact ingest and
 * counts"): the server's real rooms, group commit and API on its own PgStore (own pool), served
 * over HTTP on port 0, without Redis. What the cluster link does for it is done here the
 * simplest way: a watermark per room, its own seqs recorded as they commit, stale counts
 * (SPEC STORE-27) repaired by catching up and recounting; other nodes' entries reach a replica
 * only through catch-ups (exclusive's tail, a repair, `catchUp`).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AccountId } from '@badgesync/shared';
import pino from 'pino';
import { ServerClientLeases } from '../src/cluster/server-client-leases.js';
import { Api } from '../src/http/api.js';
import { Metrics } from '../src/metrics.js';
import type { AccountRoom } from '../src/rooms/account-room.js';
import type { ExactWrites } from '../src/rooms/exact-writes.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { RoomManager } from '../src/rooms/room-manager.js';
import { PgStore, type Store, type WriteBatch } from '../src/store/index.js';

export const API_KEY = 'exact-node-api-key-0123456789';
const quiet = pino({ level: 'silent' });

export interface ExactNodeOptions {
  /**
   * [CLUSTER-60] The rooms lease their server client IDs under this node name (as a cluster
   * node's do). Without it, each load draws a new one (reuseServerClient false).
   */
  readonly leaseNode?: string;
  /** The leases' period and renewal interval (default: the node's). */
  readonly leaseMs?: number;
  readonly renewMs?: number;
}

export class ExactNode implements ExactWrites {
  readonly metrics = new Metrics();
  readonly commit: GroupCommit;
  readonly rooms: RoomManager;
  readonly api: Api;
  readonly #http: Server;
  readonly #watermarks = new WeakMap<AccountRoom, number>();
  /** Catch-ups in progress per account, one after another. */
  readonly #repairs = new Map<AccountId, Promise<void>>();
  readonly stats = { stale: 0, repairs: 0 };
  #running = 0;
  readonly #failures: unknown[] = [];
  port = 0;
  readonly leases: ServerClientLeases | null;

  private constructor(
    readonly store: PgStore,
    options: ExactNodeOptions,
  ) {
    const { leaseNode, leaseMs, renewMs } = options;
    this.leases =
      leaseNode === undefined
        ? null
        : new ServerClientLeases({
            store,
            nodeId: leaseNode,
            log: quiet,
            ...(leaseMs === undefined ? {} : { leaseMs }),
            ...(renewMs === undefined ? {} : { renewMs }),
          });
    // The group commit's store: commits report stale counts, which are repaired.
    const reporting: Store = new Proxy(store, {
      get: (target, property) => {
        if (property === 'commit') return (batch: WriteBatch, holdMs?: number) => this.#commitBatch(batch, holdMs);
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    this.commit = new GroupCommit(reporting, this.metrics, (err) => this.#failures.push(err));
    this.rooms = new RoomManager(
      {
        store: reporting,
        commit: this.commit,
        metrics: this.metrics,
        log: quiet,
        events: { countsCommitted: () => {}, deviceOnline: () => {}, deviceOffline: () => {} },
        logHeldThrough: (room) => this.heldThrough(room),
        ...(this.leases === null
          ? { reuseServerClient: false }
          : { leases: this.leases, migrateDoc: store.migrateDoc.bind(store) }),
      },
      1000,
    );
    this.api = new Api({
      apiKey: API_KEY,
      deviceSecret: 'exact-node-device-secret-0123456789',
      store: reporting,
      rooms: this.rooms,
      commit: this.commit,
      metrics: this.metrics,
      log: quiet,
      devices: { deviceRegistered: () => {}, deviceSignedOut: () => {} },
      revoke: () => {},
      isShuttingDown: () => false,
      maxThreads: 1000,
      allowedTopics: null,
      allowedOrigins: new Set(),
      exact: this,
    });
    this.#http = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      this.api.handle(req, res, path).then(
        (handled) => {
          if (!handled) res.writeHead(404).end();
        },
        (err: unknown) => {
          this.#failures.push(err);
          res.writeHead(500).end();
        },
      );
    });
  }

  static async open(url: string, options: ExactNodeOptions = {}): Promise<ExactNode> {
    const node = new ExactNode(await PgStore.open({ url }), options);
    node.#http.listen(0, '127.0.0.1');
    await once(node.#http, 'listening');
    node.port = (node.#http.address() as AddressInfo).port;
    return node;
  }

  get exclusive(): PgStore['exclusive'] {
    return (account, request, work) => this.store.exclusive(account, request, work);
  }

  heldThrough(room: AccountRoom): number {
    return this.#watermarks.get(room) ?? room.loadedLogId;
  }

  applyTail(room: AccountRoom, tail: { readonly updates: readonly Uint8Array[]; readonly lastSeq: number }): void {
    room.applyRemote(tail.updates);
    this.#watermarks.set(room, Math.max(this.heldThrough(room), tail.lastSeq));
  }

  committed(room: AccountRoom, _updates: readonly Uint8Array[], seqs: ReadonlyArray<{ readonly seq: number }>): void {
    for (const { seq } of seqs) if (seq === this.heldThrough(room) + 1) this.#watermarks.set(room, seq);
  }

  async #commitBatch(batch: WriteBatch, holdMs?: number): Promise<void> {
    const report = await this.store.commitReporting(batch, holdMs);
    report.seqs.forEach(({ account, seq }) => {
      const room = this.rooms.peek(account);
      if (room !== undefined) this.committed(room, [], [{ seq }]);
    });
    for (const account of report.staleCounts) {
      this.stats.stale++;
      this.#repair(account);
    }
  }

  /** [STORE-27] Catches the room up with the log, then recounts it whole for the next batch. */
  #repair(account: AccountId): void {
    const before = this.#repairs.get(account) ?? Promise.resolve();
    this.#running++;
    const next = before.then(async () => {
      const room = this.rooms.peek(account);
      if (room === undefined) return;
      this.stats.repairs++;
      this.applyTail(room, await this.store.loadLogSince(account, this.heldThrough(room)));
      room.recount();
    });
    const settled = next
      .catch((err: unknown) => {
        this.#failures.push(err);
      })
      .finally(() => {
        this.#running--;
      });
    this.#repairs.set(account, settled);
  }

  /** What the bus and reconciliation would do: the entries after the watermark, applied. */
  async catchUp(account: AccountId): Promise<void> {
    const room = await this.rooms.acquire(account);
    this.applyTail(room, await this.store.loadLogSince(account, this.heldThrough(room)));
  }

  /** Waits until nothing is left to write or repair (a quiet moment). Throws what failed meanwhile. */
  async settle(): Promise<void> {
    for (;;) {
      await Promise.all(this.#repairs.values());
      // A repair marks counts, whose batch may find the log moved again and start another.
      await this.commit.flushed();
      if (this.#running === 0 && !this.commit.pending) break;
    }
    if (this.#failures.length > 0) throw this.#failures[0];
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    this.#http.close();
    await this.commit.close();
    this.leases?.close();
    this.rooms.close();
    await this.store.close();
  }
}
