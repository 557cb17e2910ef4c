/**
 * Client-ID reuse against the real server (SPEC SDK-12): sessions of one device on one file
 * replica write under one client ID, which the server keeps accepting; sessions that cannot
 * take the replica's lock write under a fresh ID each. The server document's state after the
 * same reads shows what reuse saves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStorage } from '@badgesync/client/node';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { sdkDevice, until } from '../demo/sdk-device.js';
import { api, badge } from '../helpers/api-client.js';
import { connectDevice, synced } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const SESSIONS = 30;
const THREADS = ['inbox', 'news', 'chat'];

describe('SDK: client IDs against the server', () => {
  let server: ServerProcess;
  let folder: string;
  beforeAll(async () => {
    server = await startServer();
    folder = mkdtempSync(path.join(tmpdir(), 'badgesync-client-ids-'));
  });
  afterAll(async () => {
    await stopAll();
    rmSync(folder, { recursive: true, force: true });
  });

  /** SESSIONS sessions of device `phone`, each marking every thread read one item further. */
  async function sessions(account: string, dir: string): Promise<{ ids: Set<number>; reused: number }> {
    for (const thread of THREADS) {
      await api(server, 'POST', `/v1/accounts/${account}/items`, { thread, count: SESSIONS + 1 });
    }
    const ids = new Set<number>();
    let reused = 0;
    for (let session = 1; session <= SESSIONS; session++) {
      const phone = await sdkDevice({ server, account, device: 'phone', storage: new FileStorage(dir) });
      try {
        await phone.account.whenSynced(5000);
        ids.add(phone.account.clientId);
        if (phone.account.clientIdReused) reused++;
        for (const thread of THREADS) phone.account.markRead(thread, session);
        const expected = THREADS.length * (SESSIONS + 1 - session);
        await until(async () => (await badge(server, account)).badge === expected, 5000, `session ${session}`);
        assert.ok(!phone.statuses.some((s) => s.state === 'error'), 'never refused');
      } finally {
        await phone.close();
      }
    }
    return { ids, reused };
  }

  async function stateBytes(account: string): Promise<number> {
    const reader = await connectDevice(server, account, 'reader');
    try {
      await synced(reader);
      return Y.encodeStateAsUpdate(reader.doc).length;
    } finally {
      reader.destroy();
    }
  }

  test('[SDK-12] sessions that hold the replica reuse one client ID; sessions that cannot take the lock use a fresh one each', async () => {
    const reuse = await sessions('ids-reuse', path.join(folder, 'reuse'));
    assert.equal(reuse.ids.size, 1, 'one client ID for every session');
    assert.equal(reuse.reused, SESSIONS - 1, 'all but the first reuse it');

    // A holder that never lets go (another process's open replica): every session is a guest.
    const lockedDir = path.join(folder, 'locked');
    const holder = await new FileStorage(lockedDir).open('ids-fresh', new Y.Doc(), () => {});
    try {
      const fresh = await sessions('ids-fresh', lockedDir);
      assert.equal(fresh.ids.size, SESSIONS, 'a fresh client ID per session');
      assert.equal(fresh.reused, 0);
    } finally {
      await holder.close();
    }
    const [reused, unreused] = await Promise.all([stateBytes('ids-reuse'), stateBytes('ids-fresh')]);
    console.log(
      `server document after ${SESSIONS} sessions × ${THREADS.length} reads: ${reused} B reusing the client ID, ${unreused} B with a fresh ID per session`,
    );
    assert.ok(reused < unreused, `${reused} < ${unreused}`);
  });
});
