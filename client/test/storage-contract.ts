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
