import assert from 'node:assert/strict';
import { deviceRoot, HEADS_ROOT, muteKey, packMarker, packMuteStamp } from '@badgesync/shared';
import { beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { BadgeSync, type DeviceCountsEvent } from '../src/badge-sync.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import { fakeDevice } from './helpers/fake-device.js';
import { deliver, entriesOf, serverDoc, syncWith } from './helpers/fake-server.js';
import { FakeSocket } from './helpers/fake-socket.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));

const device = fakeDevice;

describe('BadgeSync and Account', () => {
  beforeEach(() => FakeSocket.reset());

  test('[SDK-2] a replica that never synced queues writes; after the sync the planners apply them', async () => {
    const sync = device();
    const account = await sync.signIn('acct', { getToken: () => 'token' });
    await flush();
    assert.equal(account.syncedOnce, false);
    account.markRead('inbox', 3);
    account.markRead('news', 2);
    assert.equal(account.pendingWrites, 2);
    // The server knows this device read inbox to 5 (before a reinstall).
    const server = serverDoc({ inbox: 8, news: 4 }, { phone: { inbox: packMarker(0, 5) } });
    const socket = FakeSocket.last;
    syncWith(server, socket);
    assert.equal(account.pendingWrites, 0);
    assert.equal(account.syncedOnce, true);
    deliver(socket, server);
    assert.deepEqual(
      entriesOf(server, 'phone'),
      { inbox: [packMarker(0, 5)], news: [packMarker(0, 2)] },
      'the read of 3 lowered nothing',
    );
    assert.deepEqual(account.counts(), { badge: 5, threads: { inbox: 3, news: 2 }, muted: [] });
    await sync.close();
  });

  test('[SDK-2] once synced, writes apply locally at once and are sent, also while offline', async () => {
    const storage = new MemoryStorage();
    const first = device(storage);
    const a = await first.signIn('acct', { getToken: () => 'token' });
    await flush();
    const server = serverDoc({ inbox: 10 });
    syncWith(server);
    a.markRead('inbox', 4);
    assert.equal(a.badge, 6);
    const sent = FakeSocket.last.sentMessages();
    assert.equal(sent.at(-1)?.type, 'update');
    await first.close();

    // Restarted with the same storage and no network: counts and writes work at once.
    const second = device(storage);
    const b = await second.signIn('acct', { getToken: () => 'token' });
    assert.equal(b.syncedOnce, true);
    assert.equal(b.badge, 6);
    b.markRead('inbox', 9);
    assert.equal(b.pendingWrites, 0);
    assert.equal(b.badge, 1);
    b.markRead('inbox', 2);
    assert.equal(b.badge, 1, 'never lowers');
    await second.close();
  });

  test("[SDK-10] writes go only to the device's own array, as plain entries; mute stamps and a new epoch come from the planners", async () => {
    const sync = device();
    const account = await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    // Another device muted news once (stamp counter 1), and read inbox to 1.
    const server = serverDoc(
      { inbox: 5, news: 3 },
      { laptop: { inbox: packMarker(0, 1), [muteKey('news' as never)]: packMuteStamp(1, true) } },
    );
    syncWith(server);
    assert.equal(account.isMuted('news'), true);
    account.mute('news', false);
    account.mute('news', true);
    account.markAllRead();
    account.markUnread('inbox', 4);
    deliver(FakeSocket.last, server);
    assert.deepEqual(entriesOf(server, 'phone'), {
      [muteKey('news' as never)]: [packMuteStamp(3, true)],
      news: [packMarker(0, 3)],
      inbox: [packMarker(1, 3)],
    });
    assert.deepEqual(
      entriesOf(server, 'laptop'),
      { inbox: [packMarker(0, 1)], [muteKey('news' as never)]: [3] },
      'untouched',
    );
    assert.deepEqual(
      [...server.share.keys()].sort(),
      [HEADS_ROOT, deviceRoot('laptop' as never), deviceRoot('phone' as never)].sort(),
      'no other top-level type',
    );
    for (const entry of server.getArray(deviceRoot('phone' as never)).toArray()) {
      assert.ok(!((entry as unknown) instanceof Y.AbstractType), 'no nested type');
      assert.deepEqual(Object.keys(entry as object), ['key', 'val']);
    }
    assert.deepEqual(account.counts(), { badge: 2, threads: { inbox: 2, news: 0 }, muted: ['news'] });
    await sync.close();
  });

  test('[SDK-1] the device badge sums every signed-in account; count events carry it', async () => {
    const sync = device();
    const events: DeviceCountsEvent[] = [];
    sync.on('counts', (event) => events.push(event));
    await sync.signIn('work', { token: 'x.e30.y' });
    await flush();
    syncWith(serverDoc({ inbox: 4 }));
    const home = await sync.signIn('home', { token: 'x.e30.y' });
    await flush();
    syncWith(serverDoc({ chat: 3 }));
    assert.equal(sync.badge, 7);
    assert.deepEqual(
      events.map((e) => [e.account, e.badge, e.deviceBadge]),
      [
        ['work', 4, 4],
        ['home', 3, 7],
      ],
    );
    home.markRead('chat', 3);
    assert.deepEqual(events.at(-1) && [events.at(-1)?.account, events.at(-1)?.deviceBadge], ['home', 4]);
    await sync.signOut('home');
    assert.equal(sync.badge, 4);
    assert.equal(sync.account('home'), undefined);
    await sync.close();
  });

  test('whenSynced() rejects when the account is signed out while waiting', async () => {
    const sync = device();
    const account = await sync.signIn('acct', { token: 't' });
    const waiting = account.whenSynced();
    await sync.signOut('acct');
    await assert.rejects(waiting, /signed out/);
    await sync.close();
  });

  test('invalid IDs and values are refused at the call', async () => {
    assert.throws(() => device(new MemoryStorage(), '@server'), TypeError);
    assert.throws(() => device(new MemoryStorage(), 'a/b'), TypeError);
    const sync = device();
    await assert.rejects(sync.signIn('no/slash', { token: 't' }), TypeError);
    const account = await sync.signIn('acct', { token: 't' });
    assert.throws(() => account.markRead('a/b', 1), TypeError);
    assert.throws(() => account.markRead('t', -1), RangeError);
    assert.throws(() => account.markRead('t', 1.5), RangeError);
    assert.throws(() => account.markUnread('t', 0), RangeError);
    await sync.close();
    assert.throws(() => account.markRead('t', 1), /signed out/);
  });

  test('no WebSocket anywhere: a clear error', {
    // Node 22+ has a global WebSocket, so there is always one to find.
    skip: 'WebSocket' in globalThis,
  }, () => {
    assert.throws(
      () => new BadgeSync({ serverUrl: 'ws://x', deviceId: 'd', storage: new MemoryStorage() }),
      /pass \{ WebSocket \}/,
    );
  });
});
