/**
 * Frames that are not the protocol: each closes only the sender (4400, or 4413 over the
 * size limit); the process lives on, accepted data is intact, other devices keep syncing.
 */
import assert from 'node:assert/strict';
import { deriveCounts, packMarker, packMuteStamp } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { api, badge } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { docState } from '../helpers/doc-state.js';
import { headOf } from '../helpers/entries.js';
import { setEntry } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { concat, step1Frame, step2Frame, syncFrame, updateFrame, varBytes } from '../helpers/wire.js';

const ACCOUNT = 'frames';
const MAX_MESSAGE_BYTES = 4096;

describe('malformed frames', () => {
  let server: ServerProcess;
  let mac: Device;
  const devices = new DeviceSet();
  let head = 5;

  beforeAll(async () => {
    server = await startServer({ env: { BADGESYNC_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) } });
    await api(server, 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread: 'inbox', count: head });
    mac = await devices.connect(server, ACCOUNT, 'mac');
    await synced(mac);
    setEntry(mac.doc, 'mac', 'inbox', packMarker(0, 2));
    await waitFor(() => deriveCounts(mac.doc).badge === 3, 5000, 'mac read 2 of 5');
    // The read is on the server once GET /badge shows it.
    await waitForBadge(3);
  });
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  async function waitForBadge(expected: number): Promise<void> {
    const until = Date.now() + 5000;
    let last = -1;
    while (Date.now() < until) {
      last = (await badge(server, ACCOUNT)).badge;
      if (last === expected) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.fail(`badge stayed ${last}, expected ${expected}`);
  }

  /** The server still runs, kept the accepted read, and relays a new item to the honest mac. */
  async function assertStillServing(): Promise<void> {
    assert.equal(server.child.exitCode, null, 'the server process is alive');
    head += 1;
    const posted = await api(server, 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread: 'inbox' });
    assert.deepEqual(posted.body, { thread: 'inbox', head, badge: head - 2 });
    await waitFor(() => headOf(mac.doc, 'inbox') === head, 5000, `mac sees head ${head}`);
    assert.equal(deriveCounts(mac.doc).badge, head - 2, 'the mac’s read is intact');
    assert.deepEqual(mac.closes, [], 'the honest connection was never closed');
    const fresh = await RawClient.synced(server, ACCOUNT, 'fresh');
    assert.deepEqual(docState(fresh.doc), {
      'v2/device/mac': { inbox: [packMarker(0, 2)] },
      'v2/heads': { inbox: [head] },
    });
    fresh.close();
  }

  /** A real, honest update, to truncate or wrap. */
  function honestUpdate(): Uint8Array {
    const doc = new Y.Doc();
    setEntry(doc, 'bad', 'm/inbox', packMuteStamp(1, true));
    const update = Y.encodeStateAsUpdate(doc);
    doc.destroy();
    return update;
  }

  const cases: ReadonlyArray<{ name: string; frame: () => Uint8Array | string; reason?: RegExp }> = [
    { name: 'garbage bytes', frame: () => new Uint8Array([0xde, 0xad, 0xbe, 0xef]) },
    {
      name: 'a truncated update message',
      frame: () => {
        const frame = updateFrame(honestUpdate());
        return frame.subarray(0, frame.length - 3);
      },
      reason: /truncated/,
    },
    { name: 'an unknown message type', frame: () => new Uint8Array([7, 0]), reason: /unknown message type/ },
    {
      name: 'an unknown sync message type',
      frame: () => syncFrame(5, new Uint8Array([0])),
      reason: /unknown sync message type/,
    },
    {
      name: 'trailing bytes after a valid message',
      frame: () => concat(updateFrame(honestUpdate()), [0]),
      reason: /trailing/,
    },
    { name: 'a text frame', frame: () => 'hello', reason: /text/ },
    {
      name: 'a valid update frame carrying a corrupt Yjs update (RULE-12 malformed)',
      frame: () => updateFrame(new Uint8Array([1, 2, 3])),
      reason: /^malformed/,
    },
    {
      name: 'a sync step 2 carrying a corrupt Yjs update (RULE-12 malformed)',
      frame: () => step2Frame(new Uint8Array([5, 255, 255])),
      reason: /^malformed/,
    },
    {
      name: 'a malformed awareness update',
      frame: () => concat([1], varBytes(new Uint8Array([1, 7, 1, 2, 0x7b]))),
      reason: /awareness/,
    },
  ];

  /** Sends `frame` from a new connection: only that connection is closed, with 4400. */
  async function expectClosedAlone(frame: Uint8Array | string, reason?: RegExp): Promise<void> {
    const bad = await RawClient.synced(server, ACCOUNT, 'bad');
    bad.send(frame);
    const closed = await bad.closedWithin(5000);
    assert.equal(closed.code, 4400, `closed with ${closed.code} ${closed.reason}`);
    if (reason) assert.match(closed.reason, reason);
    bad.close();
    await assertStillServing();
  }

  for (const { name, frame, reason } of cases) {
    test(`[SYNC-2][CLOSE-1] ${name} → 4400, only the sender is closed`, () => expectClosedAlone(frame(), reason));
  }

  test('[SYNC-9] a sync step 1 with a corrupt state vector → 4400; the process lives on', async () => {
    // Before the fix in server/src/sync/protocol.ts this took the whole process down.
    await expectClosedAlone(step1Frame(new Uint8Array([5, 200, 200])), /state vector/);
  });

  test('[CLOSE-4] a stock provider sending a message over the limit → 4413 (not 1009), and it stops', async () => {
    const before = await metric(server, 'badgesync_connection_closes_total', { code: '4413' });
    const ipad = await devices.connect(server, ACCOUNT, 'ipad');
    await synced(ipad);
    let closedEvent: { code: number } | null = null;
    ipad.provider.on('closed', (event) => {
      closedEvent = event;
    });
    // A valid update (mutes in the device's own array) that is simply too large.
    const size = Y.encodeStateAsUpdate(
      (() => {
        const probe = new Y.Doc();
        for (let i = 0; i < 400; i++) setEntry(probe, 'ipad', `m/thread-${i}`, packMuteStamp(1, true));
        return probe;
      })(),
    ).length;
    assert.ok(size > MAX_MESSAGE_BYTES, `the update is ${size} bytes`);
    ipad.doc.transact(() => {
      for (let i = 0; i < 400; i++) setEntry(ipad.doc, 'ipad', `m/thread-${i}`, packMuteStamp(1, true));
    });
    await waitFor(() => ipad.closes.length > 0, 5000, 'the ipad closed');
    assert.deepEqual(
      ipad.closes.map((c) => c.code),
      [4413],
    );
    await waitFor(() => closedEvent !== null, 5000, 'the provider gave up (terminal close)');
    assert.equal(ipad.provider.shouldConnect, false, 'a stock provider does not reconnect after 4413');
    assert.equal(await metric(server, 'badgesync_connection_closes_total', { code: '4413' }), before + 1);
    assert.deepEqual((await badge(server, ACCOUNT)).muted, [], 'nothing of the large update was applied');
    devices.destroy(ipad);
    await assertStillServing();
  });

  test('[CLOSE-4] a raw frame over the limit → 4413', async () => {
    const bad = await RawClient.synced(server, ACCOUNT, 'bad');
    bad.send(updateFrame(new Uint8Array(MAX_MESSAGE_BYTES + 1)));
    const closed = await bad.closedWithin(5000);
    assert.equal(closed.code, 4413);
    bad.close();
    await assertStillServing();
  });
});
