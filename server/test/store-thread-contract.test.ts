/**
 * [STORE-18] The store contract suite through the commit thread: every batch of the suite goes
 * to commitAsync and is not waited for (the commit the suite awaits resolves at once), so the
 * reads that follow it see it in flight, through the overlay, or on disk once the thread
 * answered — whichever the timing gives — and must read the same as the reference either way.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { asyncStore, SqliteStore, type WriteBatch } from '../src/store/index.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-thread-contract-'));
/** Batches handed to the thread and not awaited by the suite: teardown waits for them. */
const handedOver: Promise<void>[] = [];
afterAll(async () => {
  await Promise.allSettled(handedOver);
  // The thread may still be closing its connections (and their WAL files) to the last files:
  // retry the removal briefly rather than race it (ENOTEMPTY).
  rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
});

/** commitAsync hands the batch to the commit thread and answers at once, as if already durable. */
class HandOverStore extends SqliteStore {
  override commitAsync(batch: WriteBatch, holdMs?: number): null {
    const written = super.commitAsync(batch, holdMs);
    // A batch the thread fails is a bug here: it surfaces as an unhandled rejection.
    if (written !== null) handedOver.push(written);
    return null;
  }
}

/**
 * Where a batch in flight reads differently from one written, on purpose (SPEC STORE-18,
 * docs/ARCHITECTURE.md "The commit thread"): its updates have no log ID yet (lastLogId is the
 * file's, which keeps compaction safe); compact and purge run on the event loop's connection,
 * not ordered after batches in flight (the server compacts only settled rooms, and a purge
 * only removes day-old answers); and the overlay holds the caller's bytes until the thread
 * answers (the group commit never changes them), so a caller changing them meanwhile sees the
 * change. Every other contract test passes through the overlay.
 */
const DIFFERS = new Set([
  '[STORE-1] the store keeps its own copy of the bytes',
  '[STORE-2] updates keep their order per account, within and across batches',
  '[STORE-3] compaction keeps entries appended after throughLogId; the doc reconstructs the same',
  '[STORE-3] compacting one account leaves the others alone',
  '[STORE-3] an older compaction never replaces a newer snapshot',
  '[STORE-3] compacting past the last issued log ID covers every entry so far, and no later one',
  '[STORE-3] log IDs are never reused after compaction',
  '[STORE-6] purge deletes only answers older than `before`, across accounts',
]);

let files = 0;
storeContract(
  'SqliteStore, batches on the commit thread',
  () => asyncStore(new HandOverStore(join(dir, `c-${++files}.db`))),
  {
    differs: DIFFERS,
  },
);
// [PUSH-23] As the server opens it: registration reads from memory, token refusals in flight.
storeContract(
  'SqliteStore, batches on the commit thread, registrations cached',
  () => asyncStore(new HandOverStore(join(dir, `cached-${++files}.db`), { cacheRegistrations: true })),
  {
    differs: DIFFERS,
  },
);
