import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HEADS_ROOT, KeyValueArray } from '@badgesync/shared';
import { afterAll, beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { FileStorage } from '../src/storage/file-storage.js';
import { MemoryStorage } from '../src/storage/memory-storage.js';
import type { BadgeSyncStorage, StoredReplica } from '../src/storage/storage.js';
import { fakeDevice } from './helpers/fake-device.js';
import { deliver, serverDoc, syncWith } from './helpers/fake-server.js';
import { FakeSocket } from './helpers/fake-socket.js';

const root = mkdtempSync(path.join(tmpdir(), 'badgesync-client-ids-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const flush = () => new Promise((resolve) => setImmediate(resolve));

const device = fakeDevice;

/** A storage whose replicas never hold their lock: every session takes a fresh client ID. */
class UnlockedStorage implements BadgeSyncStorage {
  constructor(readonly inner: BadgeSyncStorage) {}
  async open(account: string, doc: Y.Doc, onError: (error: Error) => void): Promise<StoredReplica> {
    const replica = await this.inner.open(account, doc, onError);
    return {
      exclusive: false,
      get meta() {
        return replica.meta;
      },
      saveMeta: (meta) => replica.saveMeta(meta),
      reset: (fresh) => replica.reset(fresh),
      close: () => replica.close(),
    };
  }
}

/**
 * `sessions` sessions of one device, each signed in, synced with the server, marking three
 * threads read and closing; answers the server's and the replica's state in bytes.
 */
async function sessions(storage: BadgeSyncStorage, count: number): Promise<{ server: number; replica: number }> {
  const server = serverDoc({});
  const heads = new KeyValueArray(server, HEADS_ROOT);
  const threads = ['inbox', 'news', 'chat'];
  for (let session = 1; session <= count; session++) {
    for (const thread of threads) heads.set(thread, session * 2);
    const sync = device(storage);
    const account = await sync.signIn('acct', { token: 'x.e30.y' });
    await flush();
    const socket = FakeSocket.last;
    syncWith(server, socket);
    for (const thread of threads) account.markRead(thread, session * 2 - 1);
    deliver(socket, server);
    await sync.close();
  }
  const replica = new Y.Doc();
  await (await storage.open('acct', replica, () => {})).close();
  return { server: Y.encodeStateAsUpdate(server).length, replica: Y.encodeStateAsUpdate(replica).length };
}

describe('client IDs', () => {
  beforeEach(() => FakeSocket.reset());

  test('[SDK-12] two instances of one FileStorage replica: the second takes a fresh ID; after the first closes, the next reuses it', async () => {
    const folder = path.join(root, 'two');
    const first = await device(new FileStorage(folder)).signIn('acct', { token: 'x.e30.y' });
    const firstSync = device(new FileStorage(folder));
    const second = await firstSync.signIn('acct', { token: 'x.e30.y' });
    assert.equal(first.clientIdReused, false, 'a new replica: nothing to reuse');
    assert.equal(second.clientIdReused, false);
    assert.notEqual(second.clientId, first.clientId, 'never one client ID in two live instances');
    await firstSync.close();
    await first.close();
    const third = await device(new FileStorage(folder)).signIn('acct', { token: 'x.e30.y' });
    assert.equal(third.clientIdReused, true);
    assert.equal(third.clientId, first.clientId);
    const fourth = await device(new FileStorage(folder)).signIn('acct', { token: 'x.e30.y' });
    assert.equal(fourth.clientIdReused, false, 'while the third holds the lock');
    assert.notEqual(fourth.clientId, third.clientId);
    await Promise.all([third.close(), fourth.close()]);
  });

  test('[SDK-12] after a session that did not close (a crash), the next one takes a fresh ID', async () => {
    const folder = path.join(root, 'crash');
    const storage = new FileStorage(folder);
    const crashed = await device(storage).signIn('acct', { token: 'x.e30.y' });
    await flush();
    syncWith(serverDoc({ inbox: 5 }));
    crashed.markRead('inbox', 2);
    // The process dies: its lock file is left behind with a dead pid, which the next open
    // takes over; here the file is removed by hand (this process is alive). It is never closed.
    rmSync(`${storage.pathOf('acct')}.lock`);
    const after = await device(new FileStorage(folder)).signIn('acct', { token: 'x.e30.y' });
    assert.equal(after.clientIdReused, false, 'no clean clock stored: the server may hold writes the file lacks');
    assert.notEqual(after.clientId, crashed.clientId);
    await after.close();
    const next = await device(new FileStorage(folder)).signIn('acct', { token: 'x.e30.y' });
    assert.equal(next.clientIdReused, true, 'after a clean close it is reused');
    assert.equal(next.clientId, after.clientId);
    await next.close();
  });

  test('[SDK-12] state bytes after 100 sessions marking 3 threads each: reused client IDs vs fresh ones', async () => {
    const reused = await sessions(new MemoryStorage(), 100);
    FakeSocket.reset();
    const fresh = await sessions(new UnlockedStorage(new MemoryStorage()), 100);
    console.log(
      `state after 100 sessions × 3 reads: server document ${reused.server} B with reuse, ${fresh.server} B with a fresh ID per session; replica ${reused.replica} B vs ${fresh.replica} B`,
    );
    assert.ok(reused.server < fresh.server, `${reused.server} < ${fresh.server}`);
    assert.ok(reused.replica < fresh.replica);
  });
});
