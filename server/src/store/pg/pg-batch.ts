/**
 * A write batch as the PostgreSQL store writes it, inside one transaction (SPEC STORE-1,
 * STORE-20): every account the batch touches is locked first, in account order, and given
 * its seqs; then the updates, counts (STORE-15), bindings, idempotency answers and push writes
 * (STORE-17, in order) follow. The batch was checked whole (checks.ts) before.
 */
import type { AccountCounts, AccountId } from '@badgesync/shared';
import type { CommitReport, CommittedSeq } from '../cluster-store.js';
import type { PushWrite, WriteBatch } from '../store.js';
import type { Queryable } from './pg-pool.js';
import { SQL } from './pg-statements.js';

type Db = Queryable;

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
 * the accounts whose counts were left out as stale (SPEC STORE-27).
 */
export async function writeBatch(db: Db, batch: WriteBatch, now: number): Promise<CommitReport> {
  const { seqs, before } = await takeSeqs(db, batch);
  if (seqs.length > 0) {
    await db.query(SQL.appendUpdates, [
      batch.updates.map((u) => u.account),
      seqs.map((s) => s.seq),
      batch.updates.map((u) => u.update),
    ]);
  }
  const staleCounts: AccountId[] = [];
  for (const entry of batch.counts) {
    // [STORE-27] Counts from a replica that lacks entries another node committed would
    // overwrite exact ones with counts that miss those entries: left out, and reported.
    if (entry.heldThrough !== undefined && entry.heldThrough !== before.get(entry.account)) {
      staleCounts.push(entry.account);
      continue;
    }
    await writeCounts(db, entry.account, entry.counts, entry.changed, now);
  }
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
 * Locks the batch's accounts and answers the seqs of its updates, in batch order, and each
 * account's newest seq before them.
 */
async function takeSeqs(db: Db, batch: WriteBatch): Promise<{ seqs: CommittedSeq[]; before: Map<string, number> }> {
  const touched = touchedAccounts(batch);
  const before = new Map<string, number>();
  if (touched.size === 0) return { seqs: [], before };
  const result = await db.query<{ account: string; log_seq: number }>(SQL.takeSeqs, [
    [...touched.keys()],
    [...touched.values()],
  ]);
  for (const row of result.rows) before.set(row.account, row.log_seq - (touched.get(row.account) ?? 0));
  // The first seq each account's updates get: its newest before the batch, plus one.
  const next = new Map<string, number>();
  for (const [account, seq] of before) next.set(account, seq + 1);
  const seqs = batch.updates.map(({ account }): CommittedSeq => {
    const seq = next.get(account) ?? Number.NaN;
    next.set(account, seq + 1);
    return { account, seq };
  });
  return { seqs, before };
}

/** One counts entry: all of the account's threads, or (STORE-15) only the `changed` ones. */
export async function writeCounts(
  db: Db,
  account: AccountId,
  counts: AccountCounts,
  changed: readonly string[] | undefined,
  now: number,
): Promise<void> {
  await db.query(SQL.putBadge, [account, counts.badge, now]);
  if (changed === undefined) {
    const threads = Object.entries(counts.threads);
    const muted = [...new Set(counts.muted)];
    await db.query(SQL.keepOnlyThreads, [account, threads.map(([thread]) => thread)]);
    if (threads.length > 0) {
      await db.query(SQL.putThreads, [account, threads.map(([t]) => t), threads.map(([, unread]) => unread)]);
    }
    await db.query(SQL.keepOnlyMutes, [account, muted]);
    if (muted.length > 0) await db.query(SQL.putMutes, [account, muted]);
    return;
  }
  const names = [...new Set(changed)];
  const counted = names.filter((thread) => Object.hasOwn(counts.threads, thread));
  const gone = names.filter((thread) => !Object.hasOwn(counts.threads, thread));
  const nowMuted = new Set(counts.muted);
  const muted = names.filter((thread) => nowMuted.has(thread));
  const unmuted = names.filter((thread) => !nowMuted.has(thread));
  if (counted.length > 0) {
    await db.query(SQL.putThreads, [account, counted, counted.map((thread) => counts.threads[thread])]);
  }
  if (gone.length > 0) await db.query(SQL.deleteThreads, [account, gone]);
  if (muted.length > 0) await db.query(SQL.putMutes, [account, muted]);
  if (unmuted.length > 0) await db.query(SQL.deleteMutes, [account, unmuted]);
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
