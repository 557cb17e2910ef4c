/**
 * Graceful shutdown (SIGTERM): connected devices are told 1001 (reconnect with backoff), the
 * process exits 0, and everything acknowledged before — ingests, API reads, device markers
 * another device received — is on disk for the next start.
 */
import assert from 'node:assert/strict';
import { deriveCounts, packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { ingestStream } from '../helpers/load.js';
import { markRead } from '../helpers/marks.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const ACCOUNT = 'term';

describe('graceful shutdown', () => {
  let server: ServerProcess;
  const devices: Device[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const d of devices) d.destroy();
    await stopAll();
  });

  test('[OPS-3][CLOSE-5] SIGTERM: devices see 1001, exit 0, everything acknowledged is on disk', async () => {
    await api(server, 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread: 'inbox', count: 10 });
    const phone = await connectDevice(server, ACCOUNT, 'phone');
    const mac = await connectDevice(server, ACCOUNT, 'mac');
    devices.push(phone, mac);
    await Promise.all([synced(phone), synced(mac)]);

    // Acknowledged just before: a device read the other device received, an API read.
    const macMarker = markRead(mac.doc, 'mac', 'inbox', 4);
    await waitFor(() => markerOf(phone.doc, 'mac', 'inbox') === macMarker, 5000, 'the phone has the read');
    const read = await api(server, 'POST', `/v1/accounts/${ACCOUNT}/read`, { thread: 'inbox', seq: 6 });
    assert.deepEqual(read, { status: 200, body: { badge: 4 } });

    // And a stream of ingests still in flight when the signal lands.
    const stream = ingestStream(server, ACCOUNT, ['news', 'chat'], { workers: 6, readers: 1, seed: 7 });
    await waitFor(() => stream.tally.requests >= 30, 20_000, '30 acknowledged ingests');
    const exitCode = await server.stop();
    await stream.stop();
    assert.equal(exitCode, 0, 'the process exits 0');
    await waitFor(() => phone.closes.length > 0 && mac.closes.length > 0, 5000, 'both devices to see the close');
    for (const device of [phone, mac]) {
      assert.equal(device.closes[0]?.code, 1001, `closed with ${JSON.stringify(device.closes[0])}`);
    }
    const errors = server.logs.filter((line) => typeof line.level === 'number' && line.level >= 50);
    assert.deepEqual(errors, [], 'the shutdown logged no error');
    const failures = stream.tally.failures.filter((f) => !f.startsWith('503 '));
    assert.deepEqual(failures, [], 'calls during the shutdown are answered 503 or not at all');

    server = await server.restart();
    const reader = await RawClient.synced(server, ACCOUNT, 'reader');
    assert.equal(markerOf(reader.doc, 'mac', 'inbox'), macMarker);
    assert.equal(markerOf(reader.doc, '@server', 'inbox'), packMarker(0, 6));
    for (const thread of ['news', 'chat']) {
      const acked = stream.tally.acked.get(thread) ?? 0;
      const head = headOf(reader.doc, thread);
      assert.ok(head >= acked, `${thread}: head ${head} ≥ acknowledged ${acked}`);
    }
    assert.deepEqual(await badge(server, ACCOUNT), deriveCounts(reader.doc));
    reader.close();
  });
});
