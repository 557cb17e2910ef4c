/**
 * The embedded store: one SQLite file through better-sqlite3, in WAL mode.
 *
 * `synchronous=FULL` makes every commit fsync the WAL before it returns, so an update is on
 * disk before the server relays it or answers 2xx (docs/ARCHITECTURE.md, invariant 4). NORMAL would survive
 * `kill -9` but not a power cut or kernel panic, and a restart that loses updates the server
 * had already relayed makes honest devices' sync step 2 look forged. The fsync is paid once
 * per transaction, so the server group-commits: everything one turn of the event loop wrote
 * goes to commit() as one batch.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { type AccountCounts, type AccountId, type DeviceId, sortedRecord } from '@badgesync/shared';
import Database from 'better-sqlite3';
import { blockFor } from '../test-hooks.js';
import {
  checkBatch,
  checkBindingEntry,
  checkCountsEntry,
  checkDelivered,
  checkDevice,
  checkDevicePatch,
  checkId,
  checkIdempotencyEntry,
  checkOutboxEntry,
  checkTime,
  checkUpdateEntry,
  replacementBatch,
} from './checks.js';
import { COMMITTED_MARK_KEY, committedId } from './commit-messages.js';
import { CommitThread } from './commit-thread.js';
import { mergeRegistration } from './device-record.js';
import { InFlight } from './in-flight.js';
import { migrate } from './migrations.js';
import { applyPushWrite } from './push-write.js';
import { REGISTRATION_CACHE_ENTRIES, RegistrationCache } from './registration-cache.js';
import { prepareStatements, type Statements } from './sqlite-statements.js';
import type {
  DevicePatch,
  DocReplacement,
  OutboxEntry,
  Registration,
  StoredDoc,
  SyncStore,
  TokenRefusal,
  WriteBatch,
} from './store.js';
import { toOutboxEntry, toRegistration } from './store-rows.js';

/**
 * How long a statement waits for a lock another connection holds (a backup, the sqlite3
 * shell, a second process started by mistake) before failing with SQLITE_BUSY. Long enough
 * to ride out a checkpoint or a short read transaction; short enough that a stuck lock shows
 * up as an error instead of a server that silently stops answering.
 */
export const BUSY_TIMEOUT_MS = 5_000;

/** The connection settings in effect, as SQLite reports them. */
export interface SqliteSettings {
  readonly journalMode: string;
  /** 2 = FULL. */
  readonly synchronous: number;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
}

export interface SqliteStoreOptions {
  /**
   * [STORE-17] commitAsync writes on the commit thread (default) rather than on the caller's
   * own connection. The commit thread's own connections say false; so does ':memory:', which
   * another connection cannot open.
   */
  readonly commitThread?: boolean;
  /**
   * [PUSH-23] Answer registration reads from memory (RegistrationCache): only for the one
   * connection through which every write of the file goes (the server's). Off by default: a
   * second connection would keep answering what the first one has since changed.
   */
  readonly cacheRegistrations?: boolean;
}

function isEmpty(batch: WriteBatch): boolean {
  const { updates, counts, bindings, idempotency, push } = batch;
  return updates.length + counts.length + bindings.length + idempotency.length + (push?.length ?? 0) === 0;
}

export class SqliteStore implements SyncStore {
  readonly #db: Database.Database;
  readonly #useThread: boolean;
  #thread: CommitThread | null = null;
  /** [STORE-18] Batches on the commit thread not yet answered: every read sees them. */
  readonly #inFlight = new InFlight();
  /** [PUSH-23] Registration reads from memory when `cacheRegistrations` (else a pass-through). */
  readonly #registrations: RegistrationCache;
  readonly #sql: Statements;
  readonly #commit: Database.Transaction<(batch: WriteBatch) => void>;
  readonly #commitMarked: Database.Transaction<(batch: WriteBatch, mark: string) => void>;
  readonly #compact: Database.Transaction<(account: AccountId, snapshot: Uint8Array, throughLogId: number) => void>;
  readonly #putDevice: Database.Transaction<
    (account: AccountId, device: DeviceId, patch: DevicePatch, now: number) => Registration
  >;
  readonly #loadDoc: Database.Transaction<(account: AccountId) => StoredDoc>;
  readonly #signOut: Database.Transaction<(account: AccountId, device: DeviceId, now: number) => boolean>;

  /** Opens (or creates, with its parent directories) the file and brings its schema up to date. */
  constructor(
    readonly path: string,
    options: SqliteStoreOptions = {},
  ) {
    this.#useThread = (options.commitThread ?? true) && path !== ':memory:';
    this.#registrations = new RegistrationCache(options.cacheRegistrations ? REGISTRATION_CACHE_ENTRIES : 0);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    // The busy timeout is set at open, so it already covers switching to WAL and migrating.
    this.#db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    let sql: Statements;
    try {
      this.#configure();
      migrate(this.#db);
      sql = prepareStatements(this.#db);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    this.#sql = sql;

    const writeBatch = (batch: WriteBatch): void => {
      const now = Date.now();
      batch.updates.forEach((entry, i) => {
        checkUpdateEntry(entry, i);
        sql.appendUpdate.run(entry.account, entry.update);
      });
      batch.counts.forEach((entry, i) => {
        checkCountsEntry(entry, i);
        const { account, counts, changed } = entry;
        sql.putBadge.run(account, counts.badge, now);
        const muted = new Set(counts.muted);
        if (changed === undefined) {
          sql.deleteThreads.run(account);
          sql.deleteMutes.run(account);
          for (const [thread, unread] of Object.entries(counts.threads)) sql.putThread.run(account, thread, unread);
          for (const thread of muted) sql.putMute.run(account, thread);
          return;
        }
        // [STORE-15] Only the threads that changed: work proportional to the change.
        for (const thread of changed) {
          const unread = Object.hasOwn(counts.threads, thread) ? counts.threads[thread] : undefined;
          if (unread === undefined) sql.deleteThread.run(account, thread);
          else sql.putThread.run(account, thread, unread);
          if (muted.has(thread)) sql.putMute.run(account, thread);
          else sql.deleteMute.run(account, thread);
        }
      });
      batch.bindings.forEach((entry, i) => {
        checkBindingEntry(entry, i);
        sql.bind.run(entry.account, entry.clientId, entry.device);
      });
      batch.idempotency.forEach((entry, i) => {
        checkIdempotencyEntry(entry, i);
        sql.putIdempotent.run(entry.account, entry.key, entry.response, entry.at);
      });
      // [STORE-17] Push state last, through the same calls push would make (same checks).
      for (const write of batch.push ?? []) applyPushWrite(this, write);
    };
    this.#commit = this.#db.transaction(writeBatch);
    // [STORE-48] The commit thread's transaction, built once: a batch and its mark (STORE-18)
    // in one BEGIN … COMMIT, not a transaction function made per batch around a nested one
    // (a SAVEPOINT and a RELEASE more per commit).
    this.#commitMarked = this.#db.transaction((batch: WriteBatch, mark: string) => {
      writeBatch(batch);
      sql.setMeta.run(COMMITTED_MARK_KEY, mark);
    });

    this.#loadDoc = this.#db.transaction((account: AccountId): StoredDoc => {
      const snapshot = sql.snapshot.get(account);
      const through = snapshot?.through_log_id ?? 0;
      const updates: Uint8Array[] = snapshot === undefined ? [] : [snapshot.data];
      let lastLogId = through;
      let logBytes = 0;
      let logCount = 0;
      for (const row of sql.logAfter.iterate(account, through)) {
        updates.push(row.data);
        lastLogId = row.id;
        logBytes += row.data.byteLength;
        logCount += 1;
      }
      return { updates, lastLogId, logCount, logBytes };
    });

    this.#compact = this.#db.transaction((account: AccountId, snapshot: Uint8Array, throughLogId: number) => {
      // Recording an ID not issued yet would hide the entries that later get it.
      const through = Math.min(throughLogId, sql.lastIssuedLogId.get()?.seq ?? 0);
      // An older compaction than the stored one: the stored snapshot already covers more,
      // and the entries between the two are gone. Replacing it would lose them.
      if (through < (sql.snapshot.get(account)?.through_log_id ?? 0)) return;
      sql.putSnapshot.run(account, snapshot, through);
      sql.deleteLogThrough.run(account, through);
    });

    this.#signOut = this.#db.transaction((account: AccountId, device: DeviceId, now: number): boolean => {
      // Kept past a later sign-in: tokens issued before it never open again (SPEC AUTH-8).
      sql.revoke.run(account, device, now);
      return sql.signOut.run(account, device).changes > 0;
    });
    this.#putDevice = this.#db.transaction(
      (account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Registration => {
        const row = sql.registration.get(account, device);
        const next = mergeRegistration(account, device, row === undefined ? null : toRegistration(row), patch, now);
        sql.putRegistration.run(
          account,
          device,
          next.address,
          next.webpushKeys?.p256dh ?? null,
          next.webpushKeys?.auth ?? null,
          next.environment,
          next.topic,
          next.badges ? 1 : 0,
          next.tokenRegisteredAt,
          next.tokenInvalidReason,
        );
        return next;
      },
    );
  }

  #configure(): void {
    const db = this.#db;
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && this.path !== ':memory:') {
      throw new Error(`SQLite refused WAL mode for ${this.path} (got ${String(mode)}): use a local file system`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
  }

  /** The pragmas in effect on this connection (diagnostics, tests). */
  settings(): SqliteSettings {
    const db = this.#db;
    return {
      journalMode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      foreignKeys: db.pragma('foreign_keys', { simple: true }) === 1,
      busyTimeoutMs: Number(db.pragma('busy_timeout', { simple: true })),
    };
  }

  commit(batch: WriteBatch): void {
    // An empty batch costs no fsync; a closed store still refuses it, like any other call.
    if (!this.#db.open) throw new TypeError('The database connection is not open');
    if (isEmpty(batch)) return;
    this.#commit.immediate(batch);
  }

  /**
   * [STORE-18, STORE-48] The commit thread's write: `batch` and `mark` (recorded under
   * COMMITTED_MARK_KEY) in one transaction, an empty batch's mark too. Throws what refused it,
   * nothing written.
   */
  commitMarked(batch: WriteBatch, mark: string): void {
    if (!this.#db.open) throw new TypeError('The database connection is not open');
    try {
      this.#commitMarked.immediate(batch, mark);
    } catch (err) {
      // Undone: registrations read inside it may be cached as they were before the undo.
      this.#registrations.clear();
      throw err;
    }
  }

  commitAsync(batch: WriteBatch, holdMs = 0): Promise<void> | null {
    if (!this.#db.open) throw new TypeError('The database connection is not open');
    // Checked here, so a refused batch throws at once and never reaches the overlay reads see.
    checkBatch(batch);
    if (isEmpty(batch)) return null;
    if (!this.#useThread) {
      blockFor(holdMs);
      this.commit(batch);
      return null;
    }
    this.#thread ??= CommitThread.shared();
    this.#inFlight.add(batch, this.#thread.nextId);
    // Its refusals are read from now on (the overlay), and no longer once it failed.
    this.#refused(batch);
    return this.#thread.commit(this.path, batch, holdMs).finally(() => {
      this.#inFlight.delete(batch);
      this.#refused(batch);
    });
  }

  /** Drops the cached registrations of every address a push write of the batch refuses. */
  #refused(batch: WriteBatch): void {
    for (const write of batch.push ?? []) {
      if (write.kind === 'invalidateToken') this.#addressRefused(write.token);
    }
  }

  #addressRefused(address: string): void {
    this.#registrations.addressRefused(address, this.#sql.registrationsOfToken.all(address).map(toRegistration));
  }

  /**
   * Starts the commit thread now rather than at the first batch (it takes a moment to boot);
   * resolves once it can take batches (at once without a thread).
   */
  startCommitThread(): Promise<void> {
    if (!this.#useThread) return Promise.resolve();
    this.#thread ??= CommitThread.shared();
    return this.#thread.ready();
  }

  transaction(work: () => void): void {
    try {
      this.#db.transaction(work).immediate();
    } catch (err) {
      // Undone: registrations read inside it may be cached as they were before the undo.
      this.#registrations.clear();
      throw err;
    }
  }

  loadDoc(account: AccountId): StoredDoc {
    if (this.#inFlight.empty || this.#thread === null) return this.#loadDoc(account);
    const { epoch } = this.#thread;
    // [STORE-18] The document and the thread's mark from one read transaction: batches the
    // snapshot already holds are not laid over it again.
    let committed = 0;
    const stored = this.#db.transaction(() => {
      committed = committedId(this.#sql.meta.get(COMMITTED_MARK_KEY)?.value ?? null, epoch);
      return this.#loadDoc(account);
    })();
    return this.#inFlight.doc(account, stored, committed);
  }

  compact(account: AccountId, snapshot: Uint8Array, throughLogId: number): void {
    if (!Number.isSafeInteger(throughLogId) || throughLogId < 0) {
      throw new RangeError(`compact: throughLogId must be a non-negative integer, got ${throughLogId}`);
    }
    if (!(snapshot instanceof Uint8Array)) throw new TypeError('compact: snapshot must be a Uint8Array');
    this.#compact.immediate(account, snapshot, throughLogId);
  }

  replaceDoc(account: AccountId, replacement: DocReplacement): void {
    const batch = replacementBatch(account, replacement);
    this.transaction(() => {
      const stored = this.#sql.snapshot.get(account)?.through_log_id ?? 0;
      if (replacement.throughLogId < stored) {
        throw new RangeError(
          `replaceDoc: throughLogId ${replacement.throughLogId} is older than the snapshot's ${stored}`,
        );
      }
      this.#commit(batch);
      this.#compact(account, replacement.snapshot, replacement.throughLogId);
    });
  }

  loadBindings(account: AccountId): Map<number, DeviceId> {
    const out = new Map<number, DeviceId>();
    for (const row of this.#sql.bindings.iterate(account)) out.set(row.client_id, row.device as DeviceId);
    return this.#inFlight.bindings(account, out);
  }

  getCounts(account: AccountId): AccountCounts | null {
    const row = this.#sql.badge.get(account);
    const stored =
      row === undefined
        ? null
        : {
            badge: row.badge,
            threads: sortedRecord(this.#sql.threads.all(account).map((r) => [r.thread, r.unread] as const)),
            muted: this.#sql.mutes.all(account).map((r) => r.thread),
          };
    return this.#inFlight.counts(account, stored);
  }

  getBadges(accounts: readonly AccountId[]): Map<AccountId, number> {
    const out = new Map<AccountId, number>();
    for (const account of accounts) {
      out.set(account, this.#inFlight.badge(account) ?? this.#sql.badge.get(account)?.badge ?? 0);
    }
    return out;
  }

  getIdempotent(account: AccountId, key: string, notBefore: number): string | null {
    const pending = this.#inFlight.idempotent(account, key, notBefore);
    if (pending !== undefined) return pending;
    return this.#sql.idempotent.get(account, key, notBefore)?.response ?? null;
  }

  purgeIdempotent(before: number): number {
    return this.#sql.purgeIdempotent.run(before).changes;
  }

  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Registration {
    checkId(account, 'account');
    checkDevice(device);
    checkDevicePatch(patch);
    checkTime(now, 'now');
    const before = this.#sql.registration.get(account, device)?.push_address ?? null;
    try {
      return this.#putDevice.immediate(account, device, patch, now);
    } finally {
      const after = this.#sql.registration.get(account, device)?.push_address ?? null;
      this.#registrations.registrationChanged(account, device, [before, after]);
    }
  }

  signOut(account: AccountId, device: DeviceId, now: number): boolean {
    checkTime(now, 'now');
    try {
      return this.#signOut.immediate(account, device, now);
    } finally {
      const address = this.#sql.registration.get(account, device)?.push_address ?? null;
      this.#registrations.registrationChanged(account, device, [address]);
    }
  }

  revokedAt(account: AccountId, device: DeviceId): number | null {
    return this.#sql.revokedAt.get(account, device)?.revoked_at ?? null;
  }

  getRegistration(account: AccountId, device: DeviceId): Registration | null {
    return this.#registrations.getRegistration(account, device, () => {
      const row = this.#sql.registration.get(account, device);
      return row === undefined ? null : this.#inFlight.registration(toRegistration(row));
    });
  }

  devicesOf(account: AccountId): DeviceId[] {
    return this.#registrations.devicesOf(account, () =>
      this.#sql.devicesOf.all(account).map((row) => row.device as DeviceId),
    );
  }

  registrationsOf(account: AccountId): Registration[] {
    return this.#registrations.registrationsOf(account, () =>
      this.#sql.registrationsOf.all(account).map((row) => this.#inFlight.registration(toRegistration(row))),
    );
  }

  registrationsOfToken(token: string): Registration[] {
    return this.#registrations.registrationsOfToken(token, () =>
      this.#sql.registrationsOfToken.all(token).map((row) => this.#inFlight.registration(toRegistration(row))),
    );
  }

  pushableTokens(): string[] {
    return this.#sql.pushableTokens.all().map((row) => row.push_address);
  }

  invalidateToken(token: string, refusal: TokenRefusal): void {
    const { reason, registeredAtOrBefore, environment, topic } = refusal;
    try {
      this.#sql.invalidateToken.run(reason, token, registeredAtOrBefore, environment, topic);
    } finally {
      this.#addressRefused(token);
    }
  }

  getDelivered(token: string): number | null {
    const pending = this.#inFlight.delivered(token);
    if (pending !== undefined) return pending;
    return this.#sql.delivered.get(token)?.badge ?? null;
  }

  clearDelivered(token: string): void {
    this.#sql.clearDelivered.run(token);
  }

  setDelivered(token: string, badge: number, at: number): void {
    checkDelivered(token, badge, at);
    this.#sql.setDelivered.run(token, badge, at);
  }

  enqueuePush(entry: OutboxEntry): void {
    checkOutboxEntry(entry);
    const { token, badge, changedAt, dueAt, attempts, parked } = entry;
    this.#sql.enqueuePush.run(token, badge, changedAt, dueAt, attempts, parked ? 1 : 0);
  }

  getPush(token: string): OutboxEntry | null {
    const row = this.#sql.push.get(token);
    return this.#inFlight.push(token, row === undefined ? null : toOutboxEntry(row));
  }

  removePush(token: string, badge: number): void {
    this.#sql.removePush.run(token, badge);
  }

  duePushes(now: number, limit: number): OutboxEntry[] {
    // SQLite reads a negative LIMIT as "no limit"; the contract reads it as none.
    if (!(limit >= 1)) return [];
    return this.#sql.duePushes.all(now, Math.floor(limit)).map(toOutboxEntry);
  }

  countPushes(): { pending: number; parked: number } {
    const row = this.#sql.countPushes.get();
    return { pending: row?.pending ?? 0, parked: row?.parked ?? 0 };
  }

  getMeta(key: string): string | null {
    return this.#sql.meta.get(key)?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.#sql.setMeta.run(key, value);
  }

  claimMeta(key: string, value: string): string {
    // One immediate transaction: another process on the same file claims before or after it.
    return this.#db
      .transaction(() => {
        this.#sql.claimMeta.run(key, value);
        return this.#sql.meta.get(key)?.value ?? value;
      })
      .immediate();
  }

  close(): void {
    // Every later call throws, as the connection's do: none is answered from memory.
    this.#registrations.clear();
    if (this.#db.open) this.#db.close();
    this.#thread?.close(this.path);
    this.#thread = null;
  }
}
