/**
 * What push hears of an account's counts (SPEC SYNC-19): once per group commit batch that
 * changed them, once it is durable, with the counts as they are then.
 */
import assert from 'node:assert/strict';
import type { AccountId, ThreadId } from '@badgesync/shared';
import { describe, test } from 'vitest';
import { RoomHarness } from './room-harness.js';

const INBOX = 'inbox' as ThreadId;
const CHAT = 'chat' as ThreadId;

describe('counts reach push once per batch', () => {
  test('[SYNC-19] five count changes in one batch tell push once, after the commit, with the last counts; the next batch tells it again', async () => {
    let next = 1_000;
    const harness = new RoomHarness('alice' as AccountId, () => next++);
    for (let i = 1; i <= 3; i++) harness.ingest(INBOX, 1);
    harness.ingest(CHAT, 2);
    harness.ingest(CHAT, 1);
    assert.equal(harness.committedCounts.length, 0, 'nothing before the batch is on disk');
    await harness.committed();
    assert.equal(harness.committedCounts.length, 1, 'one batch, one call');
    assert.equal(harness.committedCounts[0]?.badge, 6);
    assert.deepEqual(harness.committedCounts[0]?.threads, { inbox: 3, chat: 3 });

    harness.ingest(INBOX, 4);
    await harness.committed();
    assert.equal(harness.committedCounts.length, 2, 'a later batch tells push again');
    assert.equal(harness.committedCounts[1]?.badge, 10);
  });
});
