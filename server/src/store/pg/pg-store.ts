/**
 * The PostgreSQL store of the cluster mode (docs/CLUSTER.md "The PostgreSQL store"): the same
 * calls and answers as the embedded stores (the store contract suites hold it to MemoryStore),
 * on a database several nodes share, plus what the cluster needs (cluster-store.ts).
 *
 * - Every write is one transaction, durable when its promise resolves (`synchronous_commit=on`).
 * - Calls take effect in the order they were called (call-order.ts, SPEC STORE-23): a read
 *   called after commit() sees the batch (STORE-18) because it waits for it.
 * - Each account's log is numbered 1, 2, 3, … without holes (STORE-20): a commit takes the
 *   account's row lock to get its seqs, so commits of two nodes to one account serialize.
 * - A killed connection fails the call using it; the pool opens another for the next (STORE-24).
 */
import { randomUUID } from 'node:crypto';
import { type AccountCounts, type AccountId, type DeviceId, SERVER_DEVICE, sortedRecord } from '@badgesync/shared';
import type pg from 'pg';
import {
  checkBatch,
  checkDelivered,
  checkDevice,
  checkDevicePatch,
  checkId,
  checkOutboxEntry,
  checkTime,
  replacementBatch,
} from '../checks.js';
import type {
  ClusterStore,
  CommitReport,
  CommittedSeq,
  ExclusiveRequest,
  ExclusiveResult,
  ExclusiveTail,
  ExclusiveWrite,
  LogSince,
  MigratedDoc,
  ServerClientLease,
} from '../cluster-store.js';
import { mergeRegistration } from '../device-record.js';
import { ServerClientLeaseLost } from '../server-client-lease-lost.js';
import type {
  DevicePatch,
  DocReplacement,
  OutboxEntry,
  Registration,
  StoredDoc,
  TokenRefusal,
  WriteBatch,
} from '../store.js';
import { type OutboxRow, type RegistrationRow, toOutboxEntry, toRegistration } from '../store-rows.js';
import { CallOrder } from './call-order.js';
import { writeBatch, writePush } from './pg-batch.js';
import { migratePg } from './pg-migrations.js';
import { inTransaction, openPool, type PoolOptions, type Queryable } from './pg-pool.js';
import { type CountsRow, ownBytes, type PartRow, SQL } from './pg-statements.js';

export type PgStoreOptions = PoolOptions;

function isEmpty(batch: WriteBatch): boolean {
  const { updates, counts, bindings, idempotency, push } = batch;
  return updates.length + counts.length + bindings.length + idempotency.length + (push?.length ?? 0) === 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A call's own checks, run on the caller's turn: a refused call rejects without touching the database. */
function checked<T>(check: () => void, run: () => Promise<T>): Promise<T> {
  try {
    check();
  } catch (err) {
    return Promise.reject(err);
  }
  return run();
}

export class PgStore implements ClusterStore {
  readonly #pool: pg.Pool;
  readonly #order = new CallOrder();
  #closing: Promise<void> | null = null;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Connects to the database and brings its schema up to date (STORE-25: several nodes may
   * do so at once). Rejects, with the pool closed, when the database cannot be reached or is of
   * a newer schema (SchemaTooNewError).
   */
  static async open(options: PgStoreOptions): Promise<PgStore> {
    const pool = openPool(options);
    try {
      await migratePg(pool);
    } catch (err) {
      await pool.end();
      throw err;
    }
    return new PgStore(pool);
  }

  #ensureOpen(): void {
    if (this.#closing !== null) throw new TypeError('The database connection is not open');
  }

  #read<T>(run: () => Promise<T>, check: () => void = () => {}): Promise<T> {
    return checked(
      () => {
        this.#ensureOpen();
        check();
      },
      () => this.#order.read(run),
    );
  }

  #write<T>(run: () => Promise<T>, check: () => void = () => {}): Promise<T> {
    return checked(
      () => {
        this.#ensureOpen();
        check();
      },
      () => this.#order.write(run),
    );
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    return this.#pool.query<R>(text, values);
  }

  async ping(): Promise<boolean> {
    if (this.#closing !== null) return false;
    try {
      await this.#pool.query(SQL.ping);
      return true;
    } catch {
      return false;
    }
  }

  // --- documents (STORE-1..STORE-4, STORE-16, STORE-20, STORE-21)

  async commit(batch: WriteBatch, holdMs = 0): Promise<void> {
    await this.commitWithSeqs(batch, holdMs);
  }

  async commitWithSeqs(batch: WriteBatch, holdMs = 0): Promise<readonly CommittedSeq[]> {
    return (await this.commitReporting(batch, holdMs)).seqs;
  }

  commitReporting(batch: WriteBatch, holdMs = 0): Promise<CommitReport> {
    let own: WriteBatch;
    return this.#write(
      async () => {
        if (isEmpty(own)) return { seqs: [], staleCounts: [] };
        // SPEC OPS-5: held before its transaction starts, as the commit thread holds it.
        if (holdMs > 0) await sleep(holdMs);
        return inTransaction(this.#pool, (db) => writeBatch(db, own, Date.now()));
      },
      () => {
        checkBatch(batch);
        // STORE-1: the store keeps its own copy of the bytes, taken now: the write may start later.
        own = { ...batch, updates: batch.updates.map(({ account, update }) => ({ account, update: update.slice() })) };
      },
    );
  }

  exclusive<T>(
    account: AccountId,
    request: ExclusiveRequest,
    work: (tail: ExclusiveTail) => ExclusiveWrite<T>,
  ): Promise<ExclusiveResult<T>> {
    return this.#write(
      () =>
        // Run once: `work` changed the caller's replica; running it again would write twice.
        inTransaction(this.#pool, (db) => exclusiveOn(db, account, request, work), 1),
      () => {
        checkId(account, 'account');
        if (request.idempotency !== undefined) checkTime(request.idempotency.notBefore, 'notBefore');
      },
    );
  }

  loadDoc(account: AccountId): Promise<StoredDoc> {
    return this.#read(async () => storedDocOf((await this.#query<PartRow>(SQL.loadDoc, [account])).rows));
  }

  migrateDoc(account: AccountId, convert: (stored: StoredDoc) => DocReplacement | null): Promise<MigratedDoc> {
    return this.#write(
      () =>
        // Run once: `convert` may log and count a migration.
        inTransaction(
          this.#pool,
          async (db) => {
            await db.query(SQL.lockAccount, [account]);
            const stored = storedDocOf((await db.query<PartRow>(SQL.loadDoc, [account])).rows);
            const replacement = convert(stored);
            if (replacement === null) return { stored, replaced: false };
            if (replacement.throughLogId !== stored.lastLogId) {
              throw new RangeError(`migrateDoc: the replacement must cover the document read (${stored.lastLogId})`);
            }
            await writeBatch(db, replacementBatch(account, replacement), Date.now());
            await compactOn(db, account, replacement.snapshot, replacement.throughLogId);
            return { stored, replaced: true };
          },
          1,
        ),
      () => checkId(account, 'account'),
    );
  }

  loadLogSince(account: AccountId, afterSeq: number): Promise<LogSince> {
    return this.#read(
      async () => {
        const { rows } = await this.#query<PartRow>(SQL.logSince, [account, afterSeq]);
        const updates: Uint8Array[] = [];
        let lastSeq = 0;
        for (const row of rows) {
          if (row.part === 2) lastSeq = row.seq ?? 0;
          else updates.push(ownBytes(row.data as Buffer));
        }
        return { updates, lastSeq };
      },
      () => {
        if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) {
          throw new RangeError(`loadLogSince: afterSeq must be a non-negative integer, got ${afterSeq}`);
        }
      },
    );
  }

  logSeqs(accounts: readonly AccountId[]): Promise<Map<AccountId, number>> {
    return this.#read(async () => {
      const out = new Map<AccountId, number>(accounts.map((account) => [account, 0]));
      if (accounts.length === 0) return out;
      const { rows } = await this.#query<{ account: AccountId; log_seq: number }>(SQL.logSeqs, [[...accounts]]);
      for (const row of rows) out.set(row.account, row.log_seq);
      return out;
    });
  }

  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number): Promise<void> {
    return this.#write(
      () => inTransaction(this.#pool, (db) => compactOn(db, account, snapshot, throughLogId)),
      () => {
        if (!Number.isSafeInteger(throughLogId) || throughLogId < 0) {
          throw new RangeError(`compact: throughLogId must be a non-negative integer, got ${throughLogId}`);
        }
        if (!(snapshot instanceof Uint8Array)) throw new TypeError('compact: snapshot must be a Uint8Array');
      },
    );
  }

  replaceDoc(account: AccountId, replacement: DocReplacement): Promise<void> {
    let batch: WriteBatch;
    return this.#write(
      () =>
        inTransaction(this.#pool, async (db) => {
          await db.query(SQL.lockAccount, [account]);
          const stored = await db.query<{ through_seq: number }>(SQL.snapshotThrough, [account]);
          const through = stored.rows[0]?.through_seq ?? 0;
          if (replacement.throughLogId < through) {
            throw new RangeError(
              `replaceDoc: throughLogId ${replacement.throughLogId} is older than the snapshot's ${through}`,
            );
          }
          await writeBatch(db, batch, Date.now());
          await compactOn(db, account, replacement.snapshot, replacement.throughLogId);
        }),
      () => {
        batch = replacementBatch(account, replacement);
      },
    );
  }

  loadBindings(account: AccountId): Promise<Map<number, DeviceId>> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ client_id: number; device: DeviceId }>(SQL.bindings, [account]);
      return new Map(rows.map((row) => [row.client_id, row.device]));
    });
  }

  // --- counts (STORE-5, STORE-15)

  getCounts(account: AccountId): Promise<AccountCounts | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<CountsRow>(SQL.counts, [account]);
      const badge = rows.find((row) => row.part === 0)?.n;
      if (badge === undefined || badge === null) return null;
      const threads = rows
        .filter((row) => row.part === 1)
        .map((row) => [row.thread as string, row.n as number] as const);
      const muted = rows.filter((row) => row.part === 2).map((row) => row.thread as string);
      return { badge, threads: sortedRecord(threads), muted: muted.sort(compare) };
    });
  }

  getBadges(accounts: readonly AccountId[]): Promise<Map<AccountId, number>> {
    return this.#read(async () => {
      const out = new Map<AccountId, number>(accounts.map((account) => [account, 0]));
      if (accounts.length === 0) return out;
      const { rows } = await this.#query<{ account: AccountId; badge: number }>(SQL.badges, [[...accounts]]);
      for (const row of rows) out.set(row.account, row.badge);
      return out;
    });
  }

  // --- idempotency (STORE-6)

  getIdempotent(account: AccountId, key: string, notBefore: number): Promise<string | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ response: string }>(SQL.idempotent, [account, key, notBefore]);
      return rows[0]?.response ?? null;
    });
  }

  purgeIdempotent(before: number): Promise<number> {
    return this.#write(async () => (await this.#query(SQL.purgeIdempotent, [before])).rowCount ?? 0);
  }

  // --- registrations (STORE-7, STORE-14, STORE-19)

  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Promise<Registration> {
    return this.#write(
      () =>
        inTransaction(this.#pool, async (db) => {
          const { rows } = await db.query<RegistrationRow>(SQL.registrationForUpdate, [account, device]);
          const existing = rows[0] === undefined ? null : toRegistration(rows[0]);
          const next = mergeRegistration(account, device, existing, patch, now);
          await db.query(SQL.putRegistration, [
            account,
            device,
            next.address,
            next.webpushKeys?.p256dh ?? null,
            next.webpushKeys?.auth ?? null,
            next.environment,
            next.topic,
            next.badges,
            next.tokenRegisteredAt,
            next.tokenInvalidReason,
          ]);
          return next;
        }),
      () => {
        checkId(account, 'account');
        checkDevice(device);
        checkDevicePatch(patch);
        checkTime(now, 'now');
      },
    );
  }

  signOut(account: AccountId, device: DeviceId, now: number): Promise<boolean> {
    return this.#write(
      () =>
        inTransaction(this.#pool, async (db) => {
          // Kept past a later sign-in: tokens issued before it never open again (SPEC AUTH-8).
          await db.query(SQL.revoke, [account, device, now]);
          return ((await db.query(SQL.signOut, [account, device])).rowCount ?? 0) > 0;
        }),
      () => checkTime(now, 'now'),
    );
  }

  revokedAt(account: AccountId, device: DeviceId): Promise<number | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ revoked_at: number }>(SQL.revokedAt, [account, device]);
      return rows[0]?.revoked_at ?? null;
    });
  }

  getRegistration(account: AccountId, device: DeviceId): Promise<Registration | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<RegistrationRow>(SQL.registration, [account, device]);
      return rows[0] === undefined ? null : toRegistration(rows[0]);
    });
  }

  devicesOf(account: AccountId): Promise<DeviceId[]> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ device: DeviceId }>(SQL.devicesOf, [account]);
      return rows.map((row) => row.device);
    });
  }

  registrationsOf(account: AccountId): Promise<Registration[]> {
    return this.#read(async () => {
      const { rows } = await this.#query<RegistrationRow>(SQL.registrationsOf, [account]);
      return rows.map(toRegistration);
    });
  }

  registrationsOfToken(address: string): Promise<Registration[]> {
    return this.#read(async () => {
      const { rows } = await this.#query<RegistrationRow>(SQL.registrationsOfToken, [address]);
      return rows.map(toRegistration);
    });
  }

  pushableTokens(): Promise<string[]> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ push_address: string }>(SQL.pushableTokens, []);
      return rows.map((row) => row.push_address);
    });
  }

  invalidateToken(address: string, refusal: TokenRefusal): Promise<void> {
    return this.#write(() => writePush(this.#pool, { kind: 'invalidateToken', token: address, refusal }));
  }

  // --- push state (STORE-8, STORE-22)

  getDelivered(token: string): Promise<number | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ badge: number }>(SQL.delivered, [token]);
      return rows[0]?.badge ?? null;
    });
  }

  setDelivered(token: string, badge: number, at: number): Promise<void> {
    return this.#write(
      () => writePush(this.#pool, { kind: 'setDelivered', token, badge, at }),
      () => checkDelivered(token, badge, at),
    );
  }

  clearDelivered(token: string): Promise<void> {
    return this.#write(() => writePush(this.#pool, { kind: 'clearDelivered', token }));
  }

  enqueuePush(entry: OutboxEntry): Promise<void> {
    return this.#write(
      () => writePush(this.#pool, { kind: 'enqueuePush', entry }),
      () => checkOutboxEntry(entry),
    );
  }

  getPush(token: string): Promise<OutboxEntry | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<OutboxRow>(SQL.push, [token]);
      return rows[0] === undefined ? null : toOutboxEntry(rows[0]);
    });
  }

  removePush(token: string, badge: number): Promise<void> {
    return this.#write(() => writePush(this.#pool, { kind: 'removePush', token, badge }));
  }

  /** Due entries whether another node claimed them or not: the embedded stores' call (STORE-8). */
  duePushes(now: number, limit: number): Promise<OutboxEntry[]> {
    return this.#read(async () => {
      // The contract reads a limit below 1 as none.
      if (!(limit >= 1)) return [];
      const { rows } = await this.#query<OutboxRow>(SQL.duePushes, [now, Math.floor(limit)]);
      return rows.map(toOutboxEntry);
    });
  }

  claimDuePushes(node: string, now: number, limit: number, leaseMs: number): Promise<OutboxEntry[]> {
    return this.#write(
      async () => {
        if (!(limit >= 1)) return [];
        const { rows } = await this.#query<OutboxRow>(SQL.claimDuePushes, [
          node,
          now,
          Math.floor(limit),
          now + leaseMs,
        ]);
        return rows.map(toOutboxEntry).sort((a, b) => a.dueAt - b.dueAt || compare(a.token, b.token));
      },
      () => {
        if (typeof node !== 'string' || node.length === 0) throw new TypeError('claimDuePushes: node must be named');
        checkTime(now, 'now');
        if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) {
          throw new RangeError(`claimDuePushes: leaseMs must be a positive integer, got ${leaseMs}`);
        }
      },
    );
  }

  peekPushes(_node: string, now: number, limit: number): Promise<OutboxEntry[]> {
    return this.#read(async () => {
      if (!(limit >= 1)) return [];
      const { rows } = await this.#query<OutboxRow>(SQL.peekPushes, [now, Math.floor(limit)]);
      return rows.map(toOutboxEntry);
    });
  }

  releasePushes(node: string, tokens: readonly string[]): Promise<number> {
    return this.#write(
      async () =>
        tokens.length === 0 ? 0 : ((await this.#query(SQL.releasePushes, [node, [...tokens]])).rowCount ?? 0),
      () => {
        if (typeof node !== 'string' || node.length === 0) throw new TypeError('releasePushes: node must be named');
      },
    );
  }

  handOverPushes(node: string, tokens: readonly string[], now: number): Promise<number> {
    return this.#write(
      async () => (await this.#query(SQL.handOverPushes, [node, [...tokens], now])).rowCount ?? 0,
      () => {
        if (typeof node !== 'string' || node.length === 0) throw new TypeError('handOverPushes: node must be named');
        checkTime(now, 'now');
      },
    );
  }

  countPushes(): Promise<{ pending: number; parked: number }> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ pending: number; parked: number }>(SQL.countPushes, []);
      return { pending: rows[0]?.pending ?? 0, parked: rows[0]?.parked ?? 0 };
    });
  }

  // --- meta (STORE-9)

  getMeta(key: string): Promise<string | null> {
    return this.#read(async () => {
      const { rows } = await this.#query<{ value: string }>(SQL.meta, [key]);
      return rows[0]?.value ?? null;
    });
  }

  setMeta(key: string, value: string): Promise<void> {
    return this.#write(async () => {
      await this.#query(SQL.setMeta, [key, value]);
    });
  }

  claimMeta(key: string, value: string): Promise<string> {
    return this.#write(async () => {
      // The insert's row when it won; else the row a concurrent claim committed (ON CONFLICT
      // DO NOTHING waits for it), which this statement's snapshot may not show: read it again.
      const { rows } = await this.#query<{ value: string }>(SQL.claimMeta, [key, value]);
      if (rows[0] !== undefined) return rows[0].value;
      const again = await this.#query<{ value: string }>(SQL.meta, [key]);
      return again.rows[0]?.value ?? value;
    });
  }

  // --- server client leases (STORE-40..STORE-42)

  takeServerClient(
    account: AccountId,
    node: string,
    leaseMs: number,
    draws: readonly number[],
  ): Promise<ServerClientLease> {
    const lease = randomUUID();
    return this.#write(
      () =>
        inTransaction(this.#pool, async (db) => {
          const free = await db.query<{ client_id: number }>(SQL.takeServerClient, [
            account,
            node,
            lease,
            leaseMs,
            SERVER_DEVICE,
          ]);
          const reused = free.rows[0]?.client_id;
          if (reused !== undefined) return { account, clientId: reused, lease };
          for (const clientId of draws) {
            const drawn = await db.query(SQL.drawServerClient, [account, clientId, node, lease, leaseMs]);
            if ((drawn.rowCount ?? 0) > 0) return { account, clientId, lease };
          }
          throw new Error(`takeServerClient: every draw for ${account} is taken or bound`);
        }),
      () => {
        checkId(account, 'account');
        checkLease(node, leaseMs, 'takeServerClient');
        for (const id of draws) {
          if (!Number.isSafeInteger(id) || id <= 0) throw new RangeError(`takeServerClient: bad draw ${id}`);
        }
      },
    );
  }

  renewServerClients(node: string, leases: readonly string[], leaseMs: number): Promise<Set<string>> {
    return checked(
      () => {
        this.#ensureOpen();
        checkLease(node, leaseMs, 'renewServerClients');
      },
      async () => {
        if (leases.length === 0) return new Set<string>();
        const { rows } = await this.#query<{ lease: string }>(SQL.renewServerClients, [node, [...leases], leaseMs]);
        return new Set(rows.map((row) => row.lease));
      },
    );
  }

  releaseServerClient(lease: ServerClientLease): Promise<boolean> {
    return this.#write(async () => {
      const released = await this.#query(SQL.releaseServerClient, [lease.account, lease.clientId, lease.lease]);
      return (released.rowCount ?? 0) > 0;
    });
  }

  /** Refuses every later call, waits for the calls in flight, then closes the connections. */
  close(): Promise<void> {
    this.#closing ??= this.#order.idle().then(() => this.#pool.end());
    return this.#closing;
  }
}

/**
 * [STORE-26, STORE-28] `exclusive`'s transaction: the account's row lock first, so no other
 * node appends to its log (or answers its idempotency key) until this one commits; then the
 * stored answer, or the tail after the caller's replica, its work, and its write.
 */
async function exclusiveOn<T>(
  db: Queryable,
  account: AccountId,
  request: ExclusiveRequest,
  work: (tail: ExclusiveTail) => ExclusiveWrite<T>,
): Promise<ExclusiveResult<T>> {
  const locked = await db.query<{ log_seq: number }>(SQL.lockAccount, [account]);
  const lastSeq = locked.rows[0]?.log_seq ?? 0;
  const key = request.idempotency;
  if (key !== undefined) {
    // Read under the lock: a node that answered the key first committed before this read.
    const { rows } = await db.query<{ response: string }>(SQL.idempotent, [account, key.key, key.notBefore]);
    const stored = rows[0]?.response;
    if (stored !== undefined) return { kind: 'stored', response: stored };
  }
  const fence = request.serverClient;
  if (fence !== undefined) {
    // [STORE-42] Locked until this transaction ends: a take skips the row, a release waits.
    const held = await db.query(SQL.fenceServerClient, [account, fence.clientId, fence.lease]);
    if (held.rows.length === 0) {
      throw new ServerClientLeaseLost(`server client ${fence.clientId} of ${account} is no longer leased here`);
    }
  }
  const heldThrough = request.heldThrough();
  const updates: Uint8Array[] = [];
  if (heldThrough < lastSeq) {
    const { rows } = await db.query<PartRow>(SQL.tailSince, [account, heldThrough]);
    for (const row of rows) updates.push(ownBytes(row.data as Buffer));
  }
  const { batch, answer } = work({ updates, lastSeq });
  checkExclusiveBatch(account, batch);
  const { seqs } = await writeBatch(db, batch, Date.now());
  return { kind: 'written', answer, seqs };
}

/** loadDoc's rows (snapshot part first, then the log after it) as a StoredDoc. */
function storedDocOf(rows: readonly PartRow[]): StoredDoc {
  const updates: Uint8Array[] = [];
  let lastLogId = 0;
  let logCount = 0;
  let logBytes = 0;
  for (const row of rows) {
    const data = ownBytes(row.data as Buffer);
    updates.push(data);
    lastLogId = row.seq ?? 0;
    if (row.part === 0) continue;
    logCount += 1;
    logBytes += data.byteLength;
  }
  return { updates, lastLogId, logCount, logBytes };
}

function checkLease(node: string, leaseMs: number, call: string): void {
  if (typeof node !== 'string' || node.length === 0) throw new TypeError(`${call}: node must be named`);
  if (!Number.isSafeInteger(leaseMs) || leaseMs <= 0) {
    throw new RangeError(`${call}: leaseMs must be a positive integer, got ${leaseMs}`);
  }
}

/** `exclusive`'s write touches only its locked account (another lock could deadlock), no push state. */
function checkExclusiveBatch(account: AccountId, batch: WriteBatch): void {
  checkBatch(batch);
  const others = [...batch.updates, ...batch.counts, ...batch.bindings, ...batch.idempotency].filter(
    (entry) => entry.account !== account,
  );
  if (others.length > 0) throw new TypeError(`exclusive: the write of ${account} names another account`);
  if ((batch.push?.length ?? 0) > 0) throw new TypeError('exclusive: push writes go through commit()');
}

/**
 * [STORE-3] The compaction of `account` up to `throughLogId` (clamped to the newest seq given:
 * a seq not given yet would hide the entry that later gets it), under the account's row lock.
 * An older compaction than the stored snapshot's changes nothing.
 */
async function compactOn(db: Queryable, account: AccountId, snapshot: Uint8Array, throughLogId: number) {
  const locked = await db.query<{ log_seq: number }>(SQL.lockAccount, [account]);
  const through = Math.min(throughLogId, locked.rows[0]?.log_seq ?? 0);
  const put = await db.query(SQL.putSnapshot, [account, snapshot, through]);
  if ((put.rowCount ?? 0) > 0) await db.query(SQL.deleteLogThrough, [account, through]);
}
