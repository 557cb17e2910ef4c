/**
 * What the sync endpoint does with too much or too early: updates it cannot place yet are
 * dropped without closing; a flood of messages is closed with 1013 (try later); a flood of
 * upgrade attempts from one address is answered 429.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { api, badge } from '../helpers/api-client.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { markRead } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { waitFor } from '../helpers/providers.js';
import { RawClient, refusedUpgrade, type UpgradeRefusal } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { step1Frame, step2Frame, updateFrame } from '../helpers/wire.js';

describe('limits and early updates on the sync endpoint', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  /** Sends a step 1 and waits for its answer: every frame sent before it has been handled. */
  async function roundTrip(client: RawClient): Promise<void> {
    const answers = () => client.messages.filter((m) => m.kind === 'step2').length;
    const before = answers();
    client.send(step1Frame(Y.encodeStateVector(client.doc)));
    await waitFor(() => answers() > before, 5000, 'the answer to a step 1');
  }

  test('[SYNC-4] an update the server cannot place yet is dropped, the connection stays, step 2 brings it', async () => {
    await api(server, 'POST', '/v1/accounts/early/items', { thread: 'inbox', count: 5 });
    const phone = await RawClient.synced(server, 'early', 'phone');
    const notYet = await metric(server, 'badgesync_updates_not_yet_total');
    // Two reads; the second overwrites the first, so it cannot be placed without it.
    phone.capture((doc) => markRead(doc, 'phone', 'inbox', 1));
    const second = phone.capture((doc) => markRead(doc, 'phone', 'inbox', 2));
    phone.send(updateFrame(second));
    await roundTrip(phone);
    assert.equal(phone.closeInfo, null, 'the connection stays open');
    assert.equal(await metric(server, 'badgesync_updates_not_yet_total'), notYet + 1);
    assert.equal((await badge(server, 'early')).badge, 5, 'nothing of it was applied');
    const other = await RawClient.synced(server, 'early', 'mac');
    assert.equal(markerOf(other.doc, 'phone', 'inbox'), 0, 'nor relayed or stored');
    // The step 2 the device sends next carries both writes.
    phone.send(step2Frame(Y.encodeStateAsUpdate(phone.doc)));
    await waitFor(() => markerOf(other.doc, 'phone', 'inbox') === 2, 5000, 'the mac to get the read');
    assert.equal((await badge(server, 'early')).badge, 3);
    assert.equal(await metric(server, 'badgesync_updates_refused_total'), 0);
    phone.close();
    other.close();
  });

  test('[SYNC-11][CLOSE-6] a connection sending far more than 200 messages a second is closed with 1013', async () => {
    const before = await metric(server, 'badgesync_connection_closes_total', { code: '1013' });
    const flood = await RawClient.synced(server, 'flood', 'phone');
    const calm = await RawClient.synced(server, 'flood', 'mac');
    // Query-awareness: the smallest valid message. The burst allowance is 1,000.
    for (let i = 0; i < 1_500 && flood.closeInfo === null; i++) flood.send(new Uint8Array([3]));
    const closed = await flood.closedWithin(5000);
    assert.equal(closed.code, 1013, `closed with ${closed.code} ${closed.reason}`);
    assert.equal(await metric(server, 'badgesync_connection_closes_total', { code: '1013' }), before + 1);
    await api(server, 'POST', '/v1/accounts/flood/items', { thread: 't' });
    await waitFor(() => headOf(calm.doc, 't') === 1, 5000, 'the calm connection to keep syncing');
    assert.equal(calm.closeInfo, null);
    flood.close();
    calm.close();
  });

  test('[SYNC-11] a flood of upgrade attempts from one address is answered 429 before any token check', async () => {
    // Its own server: the limiter counts per address, and this test uses it all up.
    const own = await startServer();
    const answers: UpgradeRefusal[] = [];
    for (let batch = 0; batch < 8 && !answers.some((a) => a.status === 429); batch++) {
      const url = `${own.syncUrl}/someone?token=nope`;
      answers.push(...(await Promise.all(Array.from({ length: 40 }, () => refusedUpgrade(url)))));
    }
    const limited = answers.find((a) => a.status === 429);
    assert.ok(limited, `no 429 in ${answers.length} attempts`);
    assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([401, 429]));
    assert.equal((limited.body as { error: { code: string } }).error.code, 'rate_limited');
    assert.ok(answers.filter((a) => a.status === 401).length >= 100, 'a burst of 100 gets through');
  });
});
