/**
 * Replicas from before contract v2, against the real (v2) server: a v1 replica on disk is
 * dropped when the SDK opens it, v1 content that reaches a running replica is refused with
 * 4410 and the SDK drops the replica then; in both cases this device's reads the server never
 * saw are re-applied after the fresh sync.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BadgeSyncStorage, MemoryStorage, type StoredReplica } from '@badgesync/client';
import { FileStorage } from '@badgesync/client/node';
import { hasV1Content, packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { sdkDevice, until } from '../demo/sdk-device.js';
import { Tunnel } from '../demo/tunnel.js';
import { api, badge } from '../helpers/api-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

/** A v1 account document: the retired maps, written as a v1 SDK wrote them. */
function v1Update(heads: Record<string, number>, reads: Record<string, number>, mutes: Record<string, boolean> = {}) {
  const doc = new Y.Doc();
  doc.transact(() => {
    for (const [thread, head] of Object.entries(heads)) doc.getMap('heads').set(thread, head);
    for (const [key, value] of Object.entries(reads)) doc.getMap('reads').set(key, value);
    for (const [thread, muted] of Object.entries(mutes)) doc.getMap('mutes').set(thread, muted);
  });
  return Y.encodeStateAsUpdate(doc);
}

/** A storage whose replicas the test can reach: the documents they follow, by account. */
class WatchedStorage implements BadgeSyncStorage {
  readonly docs = new Map<string, Y.Doc>();
  constructor(readonly inner: BadgeSyncStorage) {}
  async open(account: string, doc: Y.Doc, onError: (error: Error) => void): Promise<StoredReplica> {
    const replica = await this.inner.open(account, doc, onError);
    this.docs.set(account, doc);
    return {
      get exclusive() {
        return replica.exclusive;
      },
      get meta() {
        return replica.meta;
      },
      saveMeta: (meta) => replica.saveMeta(meta),
      reset: async (fresh) => {
        await replica.reset(fresh);
        this.docs.set(account, fresh);
      },
      close: () => replica.close(),
    };
  }
}

describe('SDK: v1 replicas', () => {
  let server: ServerProcess;
  let folder: string;
  const tunnels: Tunnel[] = [];
  beforeAll(async () => {
    server = await startServer();
    folder = mkdtempSync(path.join(tmpdir(), 'badgesync-v1-replica-'));
  });
  afterAll(async () => {
    await Promise.all(tunnels.map((t) => t.close()));
    await stopAll();
    rmSync(folder, { recursive: true, force: true });
  });

  test('[SDK-11] a v1 replica on disk is dropped when opened; the read the server never saw survives', async () => {
    const account = 'vera';
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'inbox', count: 10 });
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'news', count: 10 });
    // The server knows the phone read news to 2.
    const before = await sdkDevice({ server, account, device: 'phone' });
    await before.account.whenSynced(5000);
    before.account.markRead('news', 2);
    await until(async () => (await badge(server, account)).badge === 18, 5000, 'news read to 2');
    await before.close();

    // The phone's file replica from its v1 SDK: it also read inbox to 7, offline, never sent.
    const dir = path.join(folder, 'on-disk');
    const seed = new Y.Doc();
    const seeded = await new FileStorage(dir).open(account, seed, (err) => {
      throw err;
    });
    Y.applyUpdate(
      seed,
      v1Update(
        { inbox: 10, news: 10 },
        { 'inbox/phone': packMarker(0, 7), 'news/phone': packMarker(0, 2), 'inbox/laptop': packMarker(0, 1) },
        { news: true },
      ),
    );
    await seeded.saveMeta({ deviceId: 'phone', syncedOnce: true, pending: [] });
    await seeded.close();

    const link = await Tunnel.open(server.port);
    tunnels.push(link);
    link.cut();
    const phone = await sdkDevice({
      server,
      account,
      device: 'phone',
      storage: new FileStorage(dir),
      serverUrl: link.url,
    });
    try {
      assert.equal(phone.account.syncedOnce, false, 'the dropped replica has not synced');
      assert.equal(phone.account.pendingWrites, 2, "the phone's two v1 markers, kept as intents");
      assert.deepEqual(
        phone.account.counts(),
        { badge: 3, threads: { inbox: 3, news: 8 }, muted: ['news'] },
        "offline, the v1 replica's counts are shown until the fresh sync",
      );
      link.restore();
      await phone.account.whenSynced(5000);
      await until(async () => (await badge(server, account)).badge === 11, 5000, 'inbox read to 7 arrives (3 + 8)');
      assert.deepEqual(phone.account.counts(), { badge: 11, threads: { inbox: 3, news: 8 }, muted: [] });
      assert.deepEqual((await badge(server, account)).muted, [], "the v1 replica's mute is not kept");
      const states = phone.statuses.map((s) => s.state);
      assert.ok(!states.includes('error'), states.join(' → '));
    } finally {
      await phone.close();
    }
    const after = new Y.Doc();
    await (await new FileStorage(dir).open(account, after, () => {})).close();
    assert.equal(hasV1Content(after), false, 'the file holds no v1 content any more');
  });

  test('[SDK-11] v1 content reaching a running replica is refused with 4410; the SDK drops the replica and keeps its unseen reads', async () => {
    const account = 'walt';
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'inbox', count: 8 });
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'news', count: 4 });
    const link = await Tunnel.open(server.port);
    tunnels.push(link);
    const storage = new WatchedStorage(new MemoryStorage());
    const phone = await sdkDevice({ server, account, device: 'phone', storage, serverUrl: link.url });
    try {
      await phone.account.whenSynced(5000);
      phone.account.markRead('news', 1);
      await until(async () => (await badge(server, account)).badge === 11, 5000, 'news read to 1');
      link.cut();
      await until(() => phone.account.status.state === 'offline', 5000, 'offline');
      phone.account.markRead('inbox', 6);
      phone.account.mute('news', true);
      // An old v1 SDK sharing the storage (another tab of an older app) wrote into it; the
      // replica loads it like any stored update.
      const doc = storage.docs.get(account) as Y.Doc;
      Y.applyUpdate(doc, v1Update({ inbox: 8 }, { 'inbox/phone': packMarker(0, 5) }), 'old sdk');
      assert.equal(hasV1Content(doc), true);
      link.restore();
      await until(
        () => phone.statuses.some((s) => s.state === 'offline' && s.lastClose?.code === 4410),
        5000,
        'the server closes 4410',
      );
      await until(
        () => phone.account.status.state === 'synced' && phone.account.pendingWrites === 0,
        5000,
        'synced afresh',
      );
      await until(
        async () => {
          const answer = await badge(server, account);
          return answer.badge === 2 && answer.muted.includes('news');
        },
        5000,
        'the offline read and mute arrive after the reset',
      );
      assert.equal(hasV1Content(storage.docs.get(account) as Y.Doc), false);
      assert.deepEqual(
        phone.account.counts(),
        await badge(server, account).then(({ badge: b, threads, muted }) => ({ badge: b, threads, muted })),
      );
      const states = phone.statuses.map((s) => s.state);
      assert.ok(!states.includes('error'), states.join(' → '));
    } finally {
      await phone.close();
    }
  });
});
