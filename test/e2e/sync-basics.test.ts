import assert from 'node:assert/strict';
import { deriveCounts, packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { setEntry } from '../helpers/marks.js';
import { connectDevice, synced, waitFor } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

describe('sync with stock y-websocket providers', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[SYNC-1] two devices see each other’s reads and the server’s heads', async () => {
    const posted = await api(server, 'POST', '/v1/accounts/ann/items', { thread: 'inbox', count: 5 });
    assert.equal(posted.status, 200);
    assert.deepEqual(posted.body, { thread: 'inbox', head: 5, badge: 5 });
    const phone = await connectDevice(server, 'ann', 'phone');
    const mac = await connectDevice(server, 'ann', 'mac');
    await Promise.all([synced(phone), synced(mac)]);
    await waitFor(() => deriveCounts(mac.doc).badge === 5, 5000, 'mac sees 5 unread');
    setEntry(mac.doc, 'mac', 'inbox', packMarker(0, 3));
    await waitFor(() => deriveCounts(phone.doc).badge === 2, 5000, 'phone sees the mac’s read');
    assert.equal((await badge(server, 'ann')).badge, 2);
    phone.destroy();
    mac.destroy();
  });

  test('[RULE-20] a device writing into another device’s array is closed with 4403 and nothing changes', async () => {
    await api(server, 'POST', '/v1/accounts/bob/items', { thread: 't', count: 3 });
    const honest = await connectDevice(server, 'bob', 'honest');
    const evil = await connectDevice(server, 'bob', 'evil');
    await Promise.all([synced(honest), synced(evil)]);
    setEntry(evil.doc, 'honest', 't', packMarker(0, 3));
    await waitFor(() => evil.closes.some((c) => c.code === 4403), 5000, 'close 4403');
    assert.equal((await badge(server, 'bob')).badge, 3);
    assert.equal(deriveCounts(honest.doc).badge, 3);
    honest.destroy();
    evil.destroy();
  });
});
