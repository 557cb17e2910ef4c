/**
 * Two sessions of one device (two installs, or two tabs, under two client IDs) writing the
 * same key at once: legal in contract v2 (the retired v1 rules refused the later one). Both
 * apply; the device's marker is the larger of its live entries; the next write of either
 * session, once synced, replaces both.
 */
import assert from 'node:assert/strict';
import { deviceRoot, packMarker } from '@badgesync/shared';
import { afterEach, describe, test } from 'vitest';
import { MemoryStore } from '../src/store/index.js';
import { contentOf, INBOX, PHONE, RecordingMember, Replica, RoomRig } from './room-rig.js';

let rig: RoomRig | null = null;
afterEach(() => {
  rig?.close();
  rig = null;
});

describe('concurrent sessions of one device', () => {
  test('[SYNC-3] two sessions of one device write the same key concurrently: both apply, the larger counts, a later write replaces both', async () => {
    rig = new RoomRig(new MemoryStore());
    const room = rig.room;
    room.serverWrite(({ heads }) => heads.set(INBOX, 10));
    await rig.flushed();
    const tab1 = new Replica(PHONE, 4101);
    const tab2 = new Replica(PHONE, 4102);
    tab1.pull(room);
    tab2.pull(room);
    const member1 = new RecordingMember(PHONE, room);
    const member2 = new RecordingMember(PHONE, room);
    assert.deepEqual(member1.sendUpdate(tab1.write((own) => own.set(INBOX, packMarker(0, 5)))), { kind: 'ok' });
    assert.deepEqual(member2.sendUpdate(tab2.write((own) => own.set(INBOX, packMarker(0, 3)))), { kind: 'ok' });
    await rig.flushed();
    const root = deviceRoot(PHONE);
    assert.deepEqual(contentOf(room.doc)[root], { inbox: [3, 5] }, 'two live entries of one key');
    assert.equal(room.tracker.counts().threads.inbox, 5, 'the larger one counts');
    assert.deepEqual(rig.store.getCounts(room.account)?.threads, { inbox: 5 });

    tab2.pull(room);
    assert.deepEqual(member2.sendUpdate(tab2.write((own) => own.set(INBOX, packMarker(0, 7)))), { kind: 'ok' });
    await rig.flushed();
    assert.deepEqual(contentOf(room.doc)[root], { inbox: 7 }, 'the synced session replaced both');
    assert.equal(room.tracker.counts().threads.inbox, 3);
    assert.equal(member1.closed, null);
    assert.equal(member2.closed, null);
    const reloaded = rig.reloaded();
    assert.deepEqual(contentOf(reloaded.doc), contentOf(room.doc));
    reloaded.destroy();
  });
});
