/**
 * The persistence contract (SPEC SDK-7), run against every BadgeSyncStorage that runs in
 * Node: FileStorage and MemoryStorage. (IndexedDbStorage runs the same checks in Chromium,
 * through the browser tests.)
 */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import * as Y from 'yjs';
import type { BadgeSyncStorage, ReplicaMeta } from '../src/storage/storage.js';

export interface StorageFixture {
  /** A storage; called again with the same `place` it must see what the first one stored. */
  make(place: string): BadgeSyncStorage;
}

const META: ReplicaMeta = {
  deviceId: 'phone',
  syncedOnce: true,
  pending: [{ kind: 'read', thread: 'inbox' as never, seq: 3 }],
};

function fail(err: Error): void {
  throw err;
}

export function storageContract(name: string, fixture: StorageFixture): void {
  test(`[SDK-7] ${name}: a reopened replica holds the document and the metadata`, async () => {
    const storage = fixture.make('reopen');
    const doc = new Y.Doc();
    const replica = await storage.open('acct', doc, fail);
    assert.equal(replica.meta, null);
    doc.getMap('heads').set('inbox', 4);
    doc.getMap('reads').set('inbox/phone', 2);
    await replica.saveMeta(META);
    doc.getMap('mutes').set('news', true);
    await replica.close();
    doc.getMap('mutes').set('after-close', true);

    const again = new Y.Doc();
    const reopened = await fixture.make('reopen').open('acct', again, fail);
    assert.deepEqual(again.getMap('heads').toJSON(), { inbox: 4 });
    assert.deepEqual(again.getMap('reads').toJSON(), { 'inbox/phone': 2 });
    assert.deepEqual(again.getMap('mutes').toJSON(), { news: true }, 'nothing after close');
    assert.deepEqual(reopened.meta, META);
    await reopened.close();
  });

  test(`[SDK-7] ${name}: accounts are kept apart, and the last metadata wins`, async () => {
    const storage = fixture.make('apart');
    const a = new Y.Doc();
    const b = new Y.Doc();
    const ra = await storage.open('a', a, fail);
    const rb = await storage.open('..', b, fail);
    a.getMap('heads').set('t', 1);
    b.getMap('heads').set('t', 2);
    await ra.saveMeta({ ...META, syncedOnce: false });
    await ra.saveMeta(META);
    await Promise.all([ra.close(), rb.close()]);
    const a2 = new Y.Doc();
    const b2 = new Y.Doc();
    const ra2 = await fixture.make('apart').open('a', a2, fail);
    const rb2 = await fixture.make('apart').open('..', b2, fail);
    assert.equal(a2.getMap('heads').get('t'), 1);
    assert.equal(b2.getMap('heads').get('t'), 2);
    assert.deepEqual(ra2.meta, META);
    assert.equal(rb2.meta, null);
    await Promise.all([ra2.close(), rb2.close()]);
  });

  test(`[SDK-12] ${name}: one instance at a time holds a replica; the next open after its close holds it`, async () => {
    const first = await fixture.make('lock').open('acct', new Y.Doc(), fail);
    const second = await fixture.make('lock').open('acct', new Y.Doc(), fail);
    const other = await fixture.make('lock').open('other-acct', new Y.Doc(), fail);
    assert.equal(first.exclusive, true);
    assert.equal(second.exclusive, false, 'the second open of one replica does not hold it');
    assert.equal(other.exclusive, true, 'locks are per account');
    await first.close();
    const third = await fixture.make('lock').open('acct', new Y.Doc(), fail);
    assert.equal(third.exclusive, true, 'free again after the holder closed');
    await second.close();
    const fourth = await fixture.make('lock').open('acct', new Y.Doc(), fail);
    assert.equal(fourth.exclusive, false, "closing a non-holder does not release the holder's lock");
    await Promise.all([third.close(), fourth.close(), other.close()]);
  });

  test(`[SDK-11] ${name}: reset drops the stored updates, keeps the metadata and follows the new document`, async () => {
    const storage = fixture.make('reset');
    const doc = new Y.Doc();
    const replica = await storage.open('acct', doc, fail);
    doc.getMap('reads').set('inbox/phone', 2);
    await replica.saveMeta(META);
    const fresh = new Y.Doc();
    await replica.reset(fresh);
    doc.getMap('reads').set('old/phone', 1);
    fresh.getArray('v2/device/phone').push([{ key: 'inbox', val: 3 }]);
    assert.equal(replica.exclusive, true, 'the lock is kept');
    await replica.close();
    const again = new Y.Doc();
    const reopened = await fixture.make('reset').open('acct', again, fail);
    assert.deepEqual([...again.share.keys()], ['v2/device/phone'], 'nothing of the dropped document');
    assert.deepEqual(again.getArray('v2/device/phone').toJSON(), [{ key: 'inbox', val: 3 }]);
    assert.deepEqual(reopened.meta, META);
    await reopened.close();
  });

  test(`[SDK-7] ${name}: many small updates load back as the same state`, async () => {
    const storage = fixture.make('many');
    const doc = new Y.Doc();
    const replica = await storage.open('acct', doc, fail);
    for (let i = 1; i <= 1_200; i++) doc.getMap('reads').set(`t${i % 7}/phone`, i);
    await replica.close();
    const again = new Y.Doc();
    const reopened = await fixture.make('many').open('acct', again, fail);
    assert.deepEqual(again.getMap('reads').toJSON(), doc.getMap('reads').toJSON());
    await reopened.close();
  });
}
