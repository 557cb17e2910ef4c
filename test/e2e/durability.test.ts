/**
 * Durability (docs/ARCHITECTURE.md, invariant 4): kill -9 in the middle of a stream of ingests, API reads
 * and device marker writes. After a restart on the same folder, every acknowledged ingest
 * is there, every marker another device had received is there, and the devices resync
 * without a single refusal.
 */
import assert from 'node:assert/strict';
import { deriveCounts } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { docState } from '../helpers/doc-state.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { ingestStream } from '../helpers/load.js';
import { markRead } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { restartOnSamePort } from '../helpers/restart.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const ACCOUNT = 'durable';
const THREADS = ['a', 'b', 'c', 'd'];
/** Acknowledged ingests before the kill: enough that many more are in flight when it lands. */
const ACKED_BEFORE_KILL = 150;
/**
 * SPEC OPS-5: every group commit batch is held this long before it writes. An answer or relay
 * sent before its batch is durable then sits undurable for 400 ms, far longer than the test
 * takes to land the kill after reading it, so such a regression fails here every run instead of
 * by luck. 400, not 150: with the commit on its own thread (STORE-17) the server keeps running
 * through the hold, and on a loaded machine the kill timer (half a hold) plus the answer's trip
 * could outlast 150 ms — one of two runs of an answer-at-hand-over regression passed at 150;
 * three of three failed at 400.
 */
const HOLD_MS = 400;
const COMMIT_HOLD = { NODE_ENV: 'test', BADGESYNC_TEST_COMMIT_DELAY_MS: String(HOLD_MS) };

/**
 * A device that keeps reading every thread up to the head it sees, every 10 ms while
 * connected (100 writes/s: well inside the per-connection rate limit).
 */
function keepReading(device: Device, name: string): () => void {
  const timer = setInterval(() => {
    if (!device.provider.synced) return;
    for (const thread of THREADS) markRead(device.doc, name, thread, headOf(device.doc, thread));
  }, 10);
  return () => clearInterval(timer);
}

/** Per thread, the highest marker of `writer` that `reader` has received. */
function watchMarkers(reader: Device, writer: string): Map<string, number> {
  const seen = new Map<string, number>();
  reader.doc.on('update', () => {
    for (const thread of THREADS) {
      const value = markerOf(reader.doc, writer, thread);
      seen.set(thread, Math.max(seen.get(thread) ?? 0, value));
    }
  });
  return seen;
}

describe('durability across kill -9', () => {
  let server: ServerProcess;
  const devices: Device[] = [];
  beforeAll(async () => {
    server = await startServer({ env: COMMIT_HOLD });
  });
  afterAll(async () => {
    for (const d of devices) d.destroy();
    await stopAll();
  });

  test('[STORE-1][STORE-17][STORE-18][SYNC-5][SYNC-10][OPS-5] kill -9 mid-stream loses nothing acknowledged; devices resync unrefused', async () => {
    assert.ok(
      server.logs.some((line) => line.msg === 'test hook: each group commit is held before it writes'),
      'the commit hold is on',
    );
    const phone = await connectDevice(server, ACCOUNT, 'phone');
    const mac = await connectDevice(server, ACCOUNT, 'mac');
    devices.push(phone, mac);
    await Promise.all([synced(phone), synced(mac)]);
    const macSeenByPhone = watchMarkers(phone, 'mac');
    const phoneSeenByMac = watchMarkers(mac, 'phone');
    const stopMac = keepReading(mac, 'mac');
    const stopPhone = keepReading(phone, 'phone');

    // The kill lands half a hold after an answer: by then the server has taken the next calls
    // and marker writes and sits in the hold of their commit, so anything it answered or
    // relayed before that commit's write is on a device and not on disk when it dies.
    const victim = server;
    let killScheduled = false;
    const stream = ingestStream(server, ACCOUNT, THREADS, {
      workers: 12,
      readers: 2,
      seed: 20240611,
      onAck: (tally) => {
        if (killScheduled) return;
        if (tally.requests >= ACKED_BEFORE_KILL && macSeenByPhone.size > 0 && phoneSeenByMac.size > 0) {
          killScheduled = true;
          setTimeout(() => victim.child.kill('SIGKILL'), HOLD_MS / 2);
        }
      },
    });
    await waitFor(
      () => victim.child.signalCode !== null,
      30_000,
      `${ACKED_BEFORE_KILL} acknowledged ingests and the kill`,
    );
    await server.kill();
    stopMac();
    stopPhone();
    await stream.stop();
    assert.deepEqual(stream.tally.failures, [], 'every call answered before the kill succeeded');
    const acked = new Map(stream.tally.acked);
    const answered = new Map(stream.tally.answeredHead);
    const macSeen = new Map(macSeenByPhone);
    const phoneSeen = new Map(phoneSeenByMac);

    server = await restartOnSamePort(server);
    const reader = await RawClient.synced(server, ACCOUNT, 'reader');
    for (const thread of THREADS) {
      const head = headOf(reader.doc, thread);
      assert.ok(head >= (acked.get(thread) ?? 0), `${thread}: head ${head} ≥ acknowledged ${acked.get(thread)}`);
      assert.ok(head >= (answered.get(thread) ?? 0), `${thread}: head ${head} ≥ answered ${answered.get(thread)}`);
      const mac_ = markerOf(reader.doc, 'mac', thread);
      const phone_ = markerOf(reader.doc, 'phone', thread);
      assert.ok(mac_ >= (macSeen.get(thread) ?? 0), `${thread}: the mac’s marker the phone had is kept`);
      assert.ok(phone_ >= (phoneSeen.get(thread) ?? 0), `${thread}: the phone’s marker the mac had is kept`);
    }
    assert.deepEqual(await badge(server, ACCOUNT), deriveCounts(reader.doc), 'stored counts match the document');
    const before = headOf(reader.doc, 'a');
    reader.close();

    // Item numbers never go back: the next ingest continues from the restored head.
    const next = await api(server, 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread: 'a' });
    assert.deepEqual(next.body, { thread: 'a', head: before + 1, badge: (next.body as { badge: number }).badge });

    // The devices, which kept retrying on the same address, resync without a refusal.
    await waitFor(() => phone.provider.synced && mac.provider.synced, 15_000, 'both providers to resync');
    await waitFor(
      () => JSON.stringify(docState(phone.doc)) === JSON.stringify(docState(mac.doc)),
      10_000,
      'the devices to converge',
    );
    for (const device of [phone, mac]) {
      assert.deepEqual(
        device.closes.filter((c) => c.code >= 4400 && c.code < 4500),
        [],
        'no device was refused after the restart',
      );
    }
    assert.equal(await metric(server, 'badgesync_updates_refused_total'), 0);
    assert.deepEqual(await badge(server, ACCOUNT), deriveCounts(phone.doc));
  });
});
