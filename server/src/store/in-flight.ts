import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import { withChangedThreads } from './changed-threads.js';
import { refuses } from './device-record.js';
import type { Registration } from './device-registry.js';
import type { StoredDoc } from './document-log.js';
import type { OutboxEntry } from './push-outbox.js';
import type { WriteBatch } from './write-batch.js';

/** `counts` with one batch entry applied, as the store applies it (STORE-15). */
function withEntry(stored: AccountCounts | null, entry: WriteBatch['counts'][number]): AccountCounts {
  const { counts, changed } = entry;
  if (changed === undefined) return { badge: counts.badge, threads: { ...counts.threads }, muted: [...counts.muted] };
  return withChangedThreads(stored, counts, changed);
}

/**
 * [STORE-18] The batches handed to the commit thread and not yet answered, oldest first, laid
 * over what the event loop's own connection reads: a read never misses a write in flight.
 * A batch is dropped from here only once the thread answered, so for that short while a read
 * may see a write both on disk and here. loadDoc tells them apart by the mark the thread
 * writes with each batch; every other overlay is idempotent (counts, bindings, answers and
 * push state are values that replace themselves), so seeing it twice reads the same as once.
 * When nothing is in flight each read costs one size check.
 */
export class InFlight {
  readonly #batches = new Set<WriteBatch>();
  /** The commit thread's id of each batch. */
  readonly #ids = new Map<WriteBatch, number>();

  get empty(): boolean {
    return this.#batches.size === 0;
  }

  add(batch: WriteBatch, id: number): void {
    this.#batches.add(batch);
    this.#ids.set(batch, id);
  }

  delete(batch: WriteBatch): void {
    this.#batches.delete(batch);
    this.#ids.delete(batch);
  }

  /**
   * The stored document with the account's updates in flight after it (lastLogId stays the
   * stored one). `committed`: the id of the last batch the snapshot read holds (from the mark
   * the thread writes in each batch's transaction, read in the same read transaction), so a
   * batch already on disk but not yet answered is not counted twice.
   */
  doc(account: AccountId, stored: StoredDoc, committed: number): StoredDoc {
    if (this.#batches.size === 0) return stored;
    const updates = [...stored.updates];
    let { logCount, logBytes } = stored;
    for (const batch of this.#batches) {
      if ((this.#ids.get(batch) ?? 0) <= committed) continue;
      for (const entry of batch.updates) {
        if (entry.account !== account) continue;
        updates.push(entry.update.slice());
        logCount += 1;
        logBytes += entry.update.byteLength;
      }
    }
    return { updates, lastLogId: stored.lastLogId, logCount, logBytes };
  }

  /** Stored bindings plus those in flight (the first binding of an ID keeps it, STORE-4). */
  bindings(account: AccountId, stored: Map<number, DeviceId>): Map<number, DeviceId> {
    for (const batch of this.#batches) {
      for (const { account: a, clientId, device } of batch.bindings) {
        if (a === account && !stored.has(clientId)) stored.set(clientId, device);
      }
    }
    return stored;
  }

  counts(account: AccountId, stored: AccountCounts | null): AccountCounts | null {
    let counts = stored;
    for (const batch of this.#batches) {
      for (const entry of batch.counts) if (entry.account === account) counts = withEntry(counts, entry);
    }
    return counts;
  }

  /** The badge in flight for the account, if any. */
  badge(account: AccountId): number | undefined {
    let badge: number | undefined;
    for (const batch of this.#batches) {
      for (const entry of batch.counts) if (entry.account === account) badge = entry.counts.badge;
    }
    return badge;
  }

  /** The answer in flight for (account, key) given at or after `notBefore`; undefined: none in flight. */
  idempotent(account: AccountId, key: string, notBefore: number): string | undefined {
    let answer: string | undefined;
    for (const batch of this.#batches) {
      for (const entry of batch.idempotency) {
        if (entry.account === account && entry.key === key && entry.at >= notBefore) answer = entry.response;
      }
    }
    return answer;
  }

  /** The token's outbox entry with the push writes in flight applied. */
  push(token: string, stored: OutboxEntry | null): OutboxEntry | null {
    let entry = stored;
    for (const batch of this.#batches) {
      for (const write of batch.push ?? []) {
        if (write.kind === 'enqueuePush' && write.entry.token === token) entry = { ...write.entry };
        else if (write.kind === 'removePush' && write.token === token && entry?.badge === write.badge) entry = null;
      }
    }
    return entry;
  }

  /** The token's delivered badge in flight (null: cleared); undefined: none in flight. */
  delivered(token: string): number | null | undefined {
    let badge: number | null | undefined;
    for (const batch of this.#batches) {
      for (const write of batch.push ?? []) {
        if (write.kind === 'setDelivered' && write.token === token) badge = write.badge;
        else if (write.kind === 'clearDelivered' && write.token === token) badge = null;
      }
    }
    return badge;
  }

  /** The registration with the token refusals in flight applied. */
  registration(stored: Registration): Registration {
    let registration = stored;
    for (const batch of this.#batches) {
      for (const write of batch.push ?? []) {
        if (write.kind === 'invalidateToken' && refuses(write.refusal, write.token, registration)) {
          registration = { ...registration, tokenInvalidReason: write.refusal.reason };
        }
      }
    }
    return registration;
  }
}
