import assert from 'node:assert/strict';
import { HEADS_ROOT, muteKey, packMarker, packMuteStamp, type ThreadId } from '@badgesync/shared';
import { beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import type { CountsEvent } from '../src/account.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import type { ReplicaMeta } from '../src/storage/storage.js';
import { fakeDevice } from './helpers/fake-device.js';
import { deliver, entriesOf, serverDoc, syncWith, v1Doc } from './helpers/fake-server.js';
import { FakeSocket } from './helpers/fake-socket.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));
const mute = (thread: string) => muteKey(thread as ThreadId);

const device = fakeDevice;

/** A MemoryStorage holding `doc` as the replica of `account`, with `meta`. */
async function storedReplica(doc: Y.Doc, meta: ReplicaMeta, account = 'acct'): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  const follower = new Y.Doc();
  const replica = await storage.open(account, follower, (err) => {
    throw err;
  });
  Y.applyUpdate(follower, Y.encodeStateAsUpdate(doc));
  await replica.saveMeta(meta);
  await replica.close();
  return storage;
}

/** What a stored replica holds now, read without its lock. */
async function storedDoc(storage: MemoryStorage, account = 'acct'): Promise<Y.Doc> {
  const doc = new Y.Doc();
  await (await storage.open(account, doc, () => {})).close();
  return doc;
}

const SYNCED: ReplicaMeta = { deviceId: 'phone', syncedOnce: true, pending: [] };

describe('v1 replicas and close 4410', () => {
  beforeEach(() => FakeSocket.reset());

  test('[SDK-11] a stored v1 replica is dropped before connecting; the device’s unseen markers are re-applied after the fresh sync', async () => {
    // The device read inbox to 7 and marked news unread from 2 offline, on a v1 replica; the
    // server (migrated to v2) has its inbox marker at 5 and its news marker at 3 (epoch 0).
    const old = v1Doc(
      { inbox: 10, news: 6, chat: 4 },
      {
        'inbox/phone': packMarker(0, 7),
        'news/phone': packMarker(1, 1),
        'chat/phone': packMarker(0, 2),
        'inbox/laptop': packMarker(0, 9),
      },
      { chat: true },
    );
    const storage = await storedReplica(old, {
      ...SYNCED,
      pending: [{ kind: 'read', thread: 'chat' as ThreadId, seq: 3 }],
    });
    const sync = device(storage);
    const account = await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    assert.equal(account.syncedOnce, false, 'a dropped replica has not synced');
    assert.equal(account.pendingWrites, 4, 'the queued read and the three markers of this device');
    assert.deepEqual(
      account.counts(),
      { badge: 6, threads: { chat: 2, inbox: 1, news: 5 }, muted: ['chat'] },
      "until the fresh sync, the v1 replica's counts",
    );
    const events: CountsEvent[] = [];
    account.on('counts', (event) => events.push(event));
    const stored = await storedDoc(storage);
    assert.deepEqual([...stored.share.keys()], [], 'the stored v1 content is gone');
    const socket = FakeSocket.last;
    socket.open();
    assert.deepEqual(socket.sentMessages()[0], { type: 'step1', stateVector: Y.encodeStateVector(new Y.Doc()) });

    const server = serverDoc(
      { inbox: 10, news: 6, chat: 4 },
      {
        phone: { inbox: packMarker(0, 5), news: packMarker(0, 3), chat: packMarker(0, 2) },
        laptop: { inbox: packMarker(0, 6) },
      },
    );
    socket.serverStep1(Y.encodeStateVector(server));
    socket.serverStep2(Y.encodeStateAsUpdate(server));
    assert.equal(account.pendingWrites, 0);
    deliver(socket, server);
    assert.deepEqual(entriesOf(server, 'phone'), {
      inbox: [packMarker(0, 7)],
      news: [packMarker(1, 1)],
      chat: [packMarker(0, 3)],
    });
    assert.deepEqual(account.counts(), { badge: 9, threads: { chat: 1, inbox: 3, news: 5 }, muted: [] });
    assert.deepEqual(
      events.map((e) => [e.previousBadge, e.badge, e.threads]),
      [[6, 9, ['chat', 'inbox']]],
      'one change, from the shown counts to the synced ones',
    );
    await sync.close();
  });

  test('[SDK-11] a marker the server already has is not written again; an older epoch is not revived', async () => {
    const old = v1Doc({ inbox: 10, news: 6 }, { 'inbox/phone': packMarker(0, 5), 'news/phone': packMarker(0, 6) });
    const storage = await storedReplica(old, SYNCED);
    const sync = device(storage);
    await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    const server = serverDoc(
      { inbox: 10, news: 6 },
      { phone: { inbox: packMarker(0, 5) }, laptop: { news: packMarker(1, 2) } },
    );
    syncWith(server);
    deliver(FakeSocket.last, server);
    assert.deepEqual(entriesOf(server, 'phone'), { inbox: [packMarker(0, 5)] }, 'nothing sent');
    await sync.close();
  });

  test('[SDK-11] close 4410: the replica is dropped, the connection syncs afresh, unseen reads and mutes are re-applied', async () => {
    const storage = new MemoryStorage();
    const sync = device(storage);
    const account = await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    // A server that also sent v1 content (it predates the server's v2 document): the replica holds it.
    const before = serverDoc({ inbox: 8, news: 4 }, { phone: { inbox: packMarker(0, 2) } });
    Y.applyUpdate(before, Y.encodeStateAsUpdate(v1Doc({ inbox: 8 }, { 'inbox/phone': packMarker(0, 1) })));
    syncWith(before);
    assert.equal(account.badge, 10);
    const counts: CountsEvent[] = [];
    account.on('counts', (event) => counts.push(event));
    // Offline writes the server never saw (into this device's v2 array).
    account.markRead('inbox', 6);
    account.mute('news', true);
    const first = FakeSocket.last;
    first.serverClose(4410, 'v1_document');
    await flush();
    assert.equal(account.syncedOnce, false);
    const shown = { badge: 2, threads: { inbox: 2, news: 4 }, muted: ['news'] };
    assert.deepEqual(account.counts(), shown, 'the counts shown before the drop stay until the fresh sync');
    const seen = counts.length;
    assert.equal(FakeSocket.all.length, 2, 'reconnected at once');
    assert.deepEqual([...(await storedDoc(storage)).share.keys()], [], 'nothing of the old replica stored');
    account.markRead('news', 1);
    assert.equal(account.pendingWrites, 3, 'kept marker, kept mute, and a write made meanwhile');

    const migrated = serverDoc({ inbox: 8, news: 4 }, { phone: { inbox: packMarker(0, 2) } });
    const second = FakeSocket.last;
    second.open();
    assert.deepEqual(second.sentMessages()[0], { type: 'step1', stateVector: Y.encodeStateVector(new Y.Doc()) });
    second.serverStep1(Y.encodeStateVector(migrated));
    second.serverStep2(Y.encodeStateAsUpdate(migrated));
    deliver(second, migrated);
    assert.deepEqual(entriesOf(migrated, 'phone'), {
      inbox: [packMarker(0, 6)],
      [mute('news')]: [packMuteStamp(1, true)],
      news: [packMarker(0, 1)],
    });
    assert.deepEqual(account.counts(), { badge: 2, threads: { inbox: 2, news: 3 }, muted: ['news'] });
    assert.deepEqual(
      counts.slice(seen).map((e) => [e.previousBadge, e.badge, e.threads]),
      [[2, 2, ['news']]],
      'one counts event for the difference',
    );
    assert.equal(account.status.state, 'synced');
    assert.equal(migrated.share.has('reads'), false);
    assert.equal(migrated.share.has(HEADS_ROOT), true);
    await sync.close();
  });

  test('[SDK-11] a second 4410 before the fresh replica synced stops with an error', async () => {
    const sync = device(new MemoryStorage());
    const account = await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    syncWith(v1Doc({ inbox: 3 }));
    FakeSocket.last.serverClose(4410, 'v1_document');
    await flush();
    FakeSocket.last.open();
    FakeSocket.last.serverClose(4410, 'v1_document');
    await flush();
    const status = account.status;
    assert.ok(status.state === 'error' && status.code === 4410, JSON.stringify(status));
    assert.match(status.reason, /fresh replica/);
    assert.equal(FakeSocket.all.length, 2);
    await sync.close();
  });
});
