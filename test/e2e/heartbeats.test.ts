/**
 * Liveness (docs/ARCHITECTURE.md, invariant 6; SPEC SYNC-8): a connection silent for two heartbeat intervals is cut;
 * a peer that answers pings stays, however long it says nothing else.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { headOf } from '../helpers/entries.js';
import { eventually, sleep } from '../helpers/eventually.js';
import { metric } from '../helpers/metrics.js';
import { synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

/**
 * Not shorter: a peer whose pong is not read within about three quarters of an interval after
 * the ping is cut, and at 300 ms a stall of a few hundred ms (the test process or the server's,
 * on a loaded machine) cut the peer that answers pings.
 */
const HEARTBEAT_MS = 1_000;

describe('heartbeats', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ env: { BADGESYNC_HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  });
  const devices = new DeviceSet();
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  test('[SYNC-8] a peer that never answers pings is terminated and counted', async () => {
    const before = await metric(server, 'badgesync_heartbeat_terminations_total');
    const dead = await RawClient.open(server, 'hb', 'dead-phone', { silent: true, autoPong: false });
    await waitFor(() => dead.messages.length > 0, 5000, 'the server to greet the dead peer');
    assert.equal(await metric(server, 'badgesync_connections'), 1);
    // Cut within 2.25 intervals; a loaded machine gets 10 s.
    const closed = await dead.closedWithin(10_000);
    assert.equal(closed.code, 1006, 'terminated without a close handshake');
    await eventually(
      async () => (await metric(server, 'badgesync_heartbeat_terminations_total')) === before + 1,
      5000,
      'the termination to be counted',
    );
    assert.equal(await metric(server, 'badgesync_connections'), 0, 'the dead peer no longer counts as connected');
    dead.close();
  });

  test('[SYNC-8] peers that answer pings stay connected across many intervals and keep syncing', async () => {
    const before = await metric(server, 'badgesync_heartbeat_terminations_total');
    // A raw peer that only answers pings (ws does so by itself), and an idle stock provider.
    const quiet = await RawClient.synced(server, 'hb2', 'quiet-phone');
    const mac = await devices.connect(server, 'hb2', 'mac');
    await synced(mac);
    // Five intervals: more than twice what a silent peer survives.
    await sleep(5 * HEARTBEAT_MS);
    assert.equal(quiet.closeInfo, null, 'the quiet peer is still connected');
    assert.deepEqual(mac.closes, [], 'the idle provider is still connected');
    assert.equal(await metric(server, 'badgesync_heartbeat_terminations_total'), before);
    await api(server, 'POST', '/v1/accounts/hb2/items', { thread: 't', count: 2 });
    await waitFor(() => headOf(quiet.doc, 't') === 2, 5000, 'the quiet peer to get the item');
    await waitFor(() => headOf(mac.doc, 't') === 2, 5000, 'the mac to get the item');
    quiet.close();
    devices.destroy(mac);
  });
});
