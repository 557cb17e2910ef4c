/**
 * RoomSync (SPEC CLUSTER-14, CLUSTER-15): other nodes' updates reach a room in seq order, a hole
 * that stays is filled from the log, and the log's newer seq makes the room catch up. The room
 * and the log are stand-ins: an update is the byte of its seq.
 */
import assert from 'node:assert/strict';
import type { AccountId } from '@badgesync/shared';
import { pino } from 'pino';
import { describe, test } from 'vitest';
import { ClusterLink } from '../src/cluster/cluster-link.js';
import { RoomSync, type SyncedRoom } from '../src/cluster/room-sync.js';

const ACCOUNT = 'acct' as AccountId;
const log = pino({ level: 'silent' });

/** A room that records the seqs it was given, in order. */
function fakeRoom(loadedLogId: number): SyncedRoom & { readonly applied: number[] } {
  const applied: number[] = [];
  return {
    account: ACCOUNT,
    loadedLogId,
    applied,
    applyRemote(updates) {
      for (const update of updates) applied.push(update[0] as number);
    },
    recount() {},
  };
}

/** A log of seqs 1..newest; records every read. */
function fakeLog(newest: () => number) {
  const reads: number[] = [];
  return {
    reads,
    async loadLogSince(_account: AccountId, afterSeq: number) {
      reads.push(afterSeq);
      const updates: Uint8Array[] = [];
      for (let seq = afterSeq + 1; seq <= newest(); seq++) updates.push(Uint8Array.of(seq));
      return { updates, lastSeq: Math.max(afterSeq, newest()) };
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('RoomSync', () => {
  test('[CLUSTER-14] updates above a hole wait for it and are applied in seq order; own commits fill the watermark', () => {
    const room = fakeRoom(3);
    const store = fakeLog(() => 0);
    const sync = new RoomSync(room, { log, store, current: () => true, holeGraceMs: 60_000 });
    sync.received(6, Uint8Array.of(6));
    sync.received(3, Uint8Array.of(3)); // in the load already
    assert.deepEqual(room.applied, [], 'seq 6 waits: 4 and 5 are missing');
    sync.committed(5); // this node's own
    sync.received(4, Uint8Array.of(4));
    assert.deepEqual(room.applied, [4, 6], '4 fills the hole, 5 is the node\u2019s own, 6 follows');
    assert.equal(sync.watermark, 6);
    assert.equal(sync.hasHole, false);
    sync.received(6, Uint8Array.of(6));
    assert.deepEqual(room.applied, [4, 6], 'a duplicate changes nothing');
    assert.deepEqual(store.reads, [], 'no hole stayed: the log was not read');
    sync.close();
  });

  test('[CLUSTER-15] a hole that stays past the grace is repaired from the log at the watermark', async () => {
    const room = fakeRoom(0);
    let newest = 3;
    const store = fakeLog(() => newest);
    const sync = new RoomSync(room, { log, store, current: () => true, holeGraceMs: 20 });
    sync.received(1, Uint8Array.of(1));
    sync.received(3, Uint8Array.of(3)); // 2 was lost
    assert.deepEqual(room.applied, [1]);
    await until(() => sync.watermark === 3, 'the repair');
    assert.deepEqual(store.reads, [1], 'read once, after seq 1');
    assert.deepEqual(room.applied, [1, 2, 3], 'the waiting 3 came from the log, after 2');
    // A lost LAST message leaves no hole: the log's newest seq (reconciliation) repairs it.
    newest = 5;
    await sync.logHas(5);
    assert.deepEqual(room.applied, [1, 2, 3, 4, 5]);
    assert.deepEqual(store.reads, [1, 3]);
    await sync.logHas(5);
    assert.deepEqual(store.reads, [1, 3], 'not behind: no read');
    sync.close();
  });

  test('[CLUSTER-15] a room that is no longer the loaded one stops repairing', async () => {
    const room = fakeRoom(0);
    const store = fakeLog(() => 9);
    let current = true;
    const sync = new RoomSync(room, { log, store, current: () => current, holeGraceMs: 20 });
    current = false;
    await sync.logHas(9);
    assert.deepEqual(store.reads, []);
    assert.deepEqual(room.applied, []);
    sync.close();
  });
});

describe('ClusterLink', () => {
  test('[CLUSTER-45] a room just published reads the log after its load at once: updates sent while it loaded are not left for a hole or a reconciliation', async () => {
    const room = fakeRoom(1);
    const shared = fakeLog(() => 3);
    const link = new ClusterLink<typeof room>({
      nodeId: 'node-a',
      // Only the log reads are used here; reconciliation is pushed out of the test's way.
      store: { ...shared, logSeqs: async () => new Map() } as unknown as ConstructorParameters<
        typeof ClusterLink
      >[0]['store'],
      bus: { publish: async () => true },
      presence: { online: async () => {}, offline: async () => {}, isOnline: async () => false },
      log,
      reconcileMs: 3_600_000,
      holeGraceMs: 3_600_000,
    });
    link.attach({ peek: () => room, loaded: () => [room], isOnlineHere: () => false });
    try {
      assert.deepEqual(shared.reads, [], 'nothing read before the room is published');
      link.published(room);
      await until(() => room.applied.length === 2, 'the catch-up');
      assert.deepEqual(room.applied, [2, 3]);
      assert.deepEqual(shared.reads, [1], 'read after the seq the load replayed');
    } finally {
      link.close();
    }
  });
});
