/**
 * A write batch as the PostgreSQL store writes it, inside one transaction (SPEC STORE-1,
 * STORE-20): every account the batch touches is locked first, in account order, and given
 * its seqs; then the updates, counts (STORE-15), bindings, idempotency answers and push writes
 * (STORE-17, in order) follow. The batch was checked whole (checks.ts) before.
 */
import type { AccountId } from '@badgesync/shared';
import type { CommitReport, CommittedSeq } from '../cluster-store.js';
import type { PushWrite, WriteBatch } from '../store.js';
import type { Queryable } from './pg-pool.js';
import { SQL } from './pg-statements.js';

type Db = Queryable;
type CountsEntry = WriteBatch['counts'][number];

/** Every account the batch writes something of, with how many updates it appends. */
function touchedAccounts(batch: WriteBatch): Map<string, number> {
  const touched = new Map<string, number>();
  for (const { account } of batch.updates) touched.set(account, (touched.get(account) ?? 0) + 1);
  for (const { account } of [...batch.counts, ...batch.bindings, ...batch.idempotency]) {
    if (!touched.has(account)) touched.set(account, 0);
  }
  return touched;
}

/**
 * Writes `batch` on `db` (inside a transaction) and answers the seq of each of its updates, and
 * the accounts whose counts were left out as stale (SPEC STORE-27). Each statement carries every
 * account of the batch at once (arrays unnested in SQL), so a batch of many accounts costs a
 * few round trips, not a few per account.
 */
export async function writeBatch(db: Db, batch: WriteBatch, now: number): Promise<CommitReport> {
  const { seqs, before } = await appendUpdates(db, batch);
  const staleCounts: AccountId[] = [];
  const fresh: CountsEntry[] = [];
  for (const entry of batch.counts) {
    // [STORE-27] Counts from a replica that lacks entries another node committed would
    // overwrite exact ones with counts that miss those entries: left out, and reported.
    if (entry.heldThrough !== undefined && entry.heldThrough !== before.get(entry.account)) {
      staleCounts.push(entry.account);
    } else fresh.push(entry);
  }
  for (const round of rounds(fresh)) await writeCounts(db, round, now);
  if (batch.bindings.length > 0) {
    await db.query(SQL.bind, [
      batch.bindings.map((b) => b.account),
      batch.bindings.map((b) => b.clientId),
      batch.bindings.map((b) => b.device),
    ]);
  }
  if (batch.idempotency.length > 0) {
    // One row per (account, key), the batch's last answer: as the embedded stores' upserts in turn.
    const last = new Map(batch.idempotency.map((e) => [`${e.account}\u0000${e.key}`, e] as const));
    const entries = [...last.values()];
    await db.query(SQL.putIdempotent, [
      entries.map((e) => e.account),
      entries.map((e) => e.key),
      entries.map((e) => e.response),
      entries.map((e) => e.at),
    ]);
  }
  for (const write of batch.push ?? []) await writePush(db, write);
  return { seqs, staleCounts };
}

/**
 * [STORE-20] One statement: locks the batch's accounts (in account order), takes their seqs and
 * appends the updates under them. Answers the seq of each update, in batch order, and each
 * account's newest seq before them.
 */
async function appendUpdates(
  db: Db,
  batch: WriteBatch,
): Promise<{ seqs: CommittedSeq[]; before: Map<string, number> }> {
  const touched = touchedAccounts(batch);
  const before = new Map<string, number>();
  if (touched.size === 0) return { seqs: [], before };
  // Each update's place among its account's updates in this batch (1, 2, …): its seq is the
  // account's newest before the batch plus that place.
  const placed = new Map<string, number>();
  const places = batch.updates.map(({ account }) => {
    const place = (placed.get(account) ?? 0) + 1;
    placed.set(account, place);
    return place;
  });
  const result = await db.query<{ account: string; log_seq: number }>(SQL.takeSeqsAndAppend, [
    [...touched.keys()],
    [...touched.values()],
    batch.updates.map((u) => u.account),
    places,
    batch.updates.map((u) => u.update),
  ]);
  for (const row of result.rows) before.set(row.account, row.log_seq - (touched.get(row.account) ?? 0));
  const seqs = batch.updates.map(
    ({ account }, i): CommittedSeq => ({ account, seq: (before.get(account) ?? Number.NaN) + (places[i] ?? 0) }),
  );
  return { seqs, before };
}

/**
 * The counts entries in rounds of distinct accounts, in batch order: an account's second entry
 * goes in the round after its first, so each round's statements touch each row once and the
 * rounds apply in turn (a later entry of an account wins, as written one by one).
 */
function rounds(entries: readonly CountsEntry[]): CountsEntry[][] {
  const out: CountsEntry[][] = [];
  const seen = new Map<string, number>();
  for (const entry of entries) {
    const round = seen.get(entry.account) ?? 0;
    seen.set(entry.account, round + 1);
    const list = out[round] ?? [];
    list.push(entry);
    out[round] = list;
  }
  return out;
}

/** Parallel columns of (account, thread[, value]) rows, as the statements unnest them. */
class Rows<V = never> {
  readonly accounts: string[] = [];
  readonly threads: string[] = [];
  readonly values: V[] = [];
  add(account: string, thread: string, value?: V): void {
    this.accounts.push(account);
    this.threads.push(thread);
    if (value !== undefined) this.values.push(value);
  }
  get size(): number {
    return this.accounts.length;
  }
}

/**
 * Counts entries of distinct accounts: each entry sets all of its account's threads, or
 * (STORE-15) only its `changed` ones. One statement per kind of row for all of them: badges;
 * threads and mutes dropped (a whole entry's threads not listed, a changed one's gone); threads
 * and mutes written. An account's dropped and written threads are disjoint, so the order of
 * the statements does not matter.
 */
async function writeCounts(db: Db, entries: readonly CountsEntry[], now: number): Promise<void> {
  if (entries.length === 0) return;
  const whole: string[] = [];
  const keptThreads = new Rows();
  const keptMutes = new Rows();
  const putThreads = new Rows<number>();
  const goneThreads = new Rows();
  const putMutes = new Rows();
  const goneMutes = new Rows();
  for (const { account, counts, changed } of entries) {
    if (changed === undefined) {
      whole.push(account);
      for (const [thread, unread] of Object.entries(counts.threads)) {
        keptThreads.add(account, thread);
        putThreads.add(account, thread, unread);
      }
      for (const thread of new Set(counts.muted)) {
        keptMutes.add(account, thread);
        putMutes.add(account, thread);
      }
      continue;
    }
    const muted = new Set(counts.muted);
    for (const thread of new Set(changed)) {
      const unread = counts.threads[thread];
      if (Object.hasOwn(counts.threads, thread) && unread !== undefined) putThreads.add(account, thread, unread);
      else goneThreads.add(account, thread);
      if (muted.has(thread)) putMutes.add(account, thread);
      else goneMutes.add(account, thread);
    }
  }
  await db.query(SQL.putBadges, [entries.map((e) => e.account), entries.map((e) => e.counts.badge), now]);
  if (whole.length > 0) {
    await db.query(SQL.keepOnlyThreads, [whole, keptThreads.accounts, keptThreads.threads]);
    await db.query(SQL.keepOnlyMutes, [whole, keptMutes.accounts, keptMutes.threads]);
  }
  if (goneThreads.size > 0) await db.query(SQL.deleteThreads, [goneThreads.accounts, goneThreads.threads]);
  if (goneMutes.size > 0) await db.query(SQL.deleteMutes, [goneMutes.accounts, goneMutes.threads]);
  if (putThreads.size > 0) {
    await db.query(SQL.putThreads, [putThreads.accounts, putThreads.threads, putThreads.values]);
  }
  if (putMutes.size > 0) await db.query(SQL.putMutes, [putMutes.accounts, putMutes.threads]);
}

/** One push-state write, as its store call makes it (checked with the batch). */
export async function writePush(db: Db, write: PushWrite): Promise<void> {
  switch (write.kind) {
    case 'enqueuePush': {
      const { token, badge, changedAt, dueAt, attempts, parked } = write.entry;
      await db.query(SQL.enqueuePush, [token, badge, changedAt, dueAt, attempts, parked]);
      return;
    }
    case 'removePush':
      await db.query(SQL.removePush, [write.token, write.badge]);
      return;
    case 'setDelivered':
      await db.query(SQL.setDelivered, [write.token, write.badge, write.at]);
      return;
    case 'clearDelivered':
      await db.query(SQL.clearDelivered, [write.token]);
      return;
    case 'invalidateToken': {
      const { reason, registeredAtOrBefore, environment, topic } = write.refusal;
      await db.query(SQL.invalidateToken, [reason, write.token, registeredAtOrBefore, environment, topic]);
      return;
    }
  }
}
