/**
 * Compaction on the v2 document (SPEC SYNC-7, STORE-3): the room still folds its log into one
 * snapshot, and because every device writes only its own array (its replaced entries merge
 * into runs of deleted items), the snapshot stays small however many reads were written.
 */
import assert from 'node:assert/strict';
import { type DeviceId, deriveCounts, packMarker, parseDeviceId, type ThreadId } from '@badgesync/shared';
import { afterEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { MemoryStore } from '../src/store/index.js';
import { ACCOUNT, RecordingMember, Replica, RoomRig } from './room-rig.js';

const THREADS = Array.from({ length: 20 }, (_, i) => `thread-${i}` as ThreadId);
const DEVICES: readonly DeviceId[] = ['phone', 'laptop', 'tablet'].map(parseDeviceId);
const UPDATES = 10_000;
/** The bound the test holds the snapshot to: v1 kept one struct per value ever written (hundreds of KB here). */
const MAX_SNAPSHOT_BYTES = 16 * 1024;
/** Updates between two group commits, as a busy turn of the event loop would batch them. */
const PER_COMMIT = 100;

let rig: RoomRig | null = null;
afterEach(() => {
  rig?.close();
  rig = null;
});

describe('compaction of the v2 document', () => {
  test('[SYNC-7] [STORE-3] 10,000 marker updates on 20 threads × 3 devices compact into a snapshot under 16 KB that reloads the same counts', async () => {
    rig = new RoomRig(new MemoryStore());
    const room = rig.room;
    room.serverWrite(({ heads }) => {
      for (const thread of THREADS) heads.set(thread, 1_000);
    });
    await rig.flushed();
    const devices = DEVICES.map((id, i) => {
      const replica = new Replica(id, 5_000 + i);
      replica.pull(room);
      return { replica, member: new RecordingMember(id, room) };
    });
    const seqs = new Map<string, number>();
    for (let i = 0; i < UPDATES; i++) {
      const { replica, member } = devices[i % devices.length] as (typeof devices)[number];
      const thread = THREADS[(i * 7 + Math.floor(i / 3)) % THREADS.length] as ThreadId;
      const pair = `${replica.device}/${thread}`;
      const seq = (seqs.get(pair) ?? 0) + 1;
      seqs.set(pair, seq);
      const result = member.sendUpdate(replica.write((own) => own.set(thread, packMarker(0, seq))));
      assert.deepEqual(result, { kind: 'ok' }, `update ${i}`);
      if (i % PER_COMMIT === PER_COMMIT - 1) await rig.flushed();
    }
    await rig.flushed();
    assert.ok(rig.logCount() >= UPDATES, 'every update was logged');
    const compaction = room.compact();
    assert.ok(compaction, 'the room compacts: every write is on disk');
    await compaction.done;

    const stored = rig.store.loadDoc(ACCOUNT);
    assert.equal(stored.updates.length, 1, 'one snapshot, no log');
    const snapshot = stored.updates[0] as Uint8Array;
    console.log(`[compaction] ${UPDATES} marker updates → snapshot of ${snapshot.byteLength} bytes`);
    assert.ok(snapshot.byteLength < MAX_SNAPSHOT_BYTES, `snapshot of ${snapshot.byteLength} bytes`);
    const reloaded = new Y.Doc();
    Y.applyUpdate(reloaded, snapshot);
    const counts = deriveCounts(reloaded);
    assert.deepEqual(counts, room.tracker.counts());
    assert.deepEqual(rig.store.getCounts(ACCOUNT), counts, 'the stored counts are the document’s');
    for (const { member } of devices) assert.equal(member.closed, null);
  });
});
