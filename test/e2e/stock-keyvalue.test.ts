/**
 * The README's stock client, run for real: a stock y-websocket provider and y-utility's
 * YKeyValue over the device's own array `v2/device/<deviceId>`, the other arrays read as
 * plain arrays (largest value per key). The code in `readInbox` is the README's example,
 * with the test's socket options (a `ws` polyfill, no BroadcastChannel).
 */
import assert from 'node:assert/strict';
import { packMarker } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { WebSocket } from 'ws';
import { YKeyValue } from 'y-utility/y-keyvalue';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { api, badge, deviceToken } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { markerOf } from '../helpers/entries.js';
import { badgeBecomes } from '../helpers/eventually.js';
import { markUnread } from '../helpers/marks.js';
import { synced, waitFor } from '../helpers/providers.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

type Entry = { key: string; val: number };

interface StockClient {
  readonly doc: Y.Doc;
  readonly provider: WebsocketProvider;
  readonly closes: number[];
  /** Resolves once the README's `sync` handler has written the read. */
  readonly wrote: Promise<number>;
}

/** The README's example: connect, and once synced read `inbox` up to its head. */
function readInbox(server: ServerProcess, account: string, deviceId: string, token: string): StockClient {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(server.syncUrl, account, doc, {
    params: { token },
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    disableBc: true,
  });
  const closes: number[] = [];
  provider.on('connection-close', (event) => {
    if (event) closes.push(event.code);
  });
  const mine = new YKeyValue<number>(doc.getArray(`v2/device/${deviceId}`)); // write here only

  // Another device's array may hold two entries of one key (two sessions wrote at once): take the largest.
  const largest = (root: string, key: string) =>
    Math.max(
      0,
      ...doc
        .getArray<Entry>(root)
        .toArray()
        .filter((e) => e.key === key)
        .map((e) => e.val),
    );
  const deviceRoots = () => [...doc.share.keys()].filter((root) => root.startsWith('v2/device/'));

  const wrote = new Promise<number>((resolve) => {
    provider.once('sync', () => {
      const marker = Math.max(0, ...deviceRoots().map((root) => largest(root, 'inbox'))); // the thread's read marker
      const epoch = Math.floor(marker / 2 ** 32); // a mark-as-unread starts a new epoch: stay in the current one
      mine.set('inbox', epoch * 2 ** 32 + largest('v2/heads', 'inbox')); // read up to the head
      resolve(mine.get('inbox') as number);
    });
  });
  return { doc, provider, closes, wrote };
}

describe('[SYNC-1] the README’s stock client: y-websocket + YKeyValue over the device’s own array', () => {
  let server: ServerProcess;
  const devices = new DeviceSet();
  const stock: StockClient[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const client of stock) {
      client.provider.destroy();
      client.doc.destroy();
    }
    devices.destroyAll();
    await stopAll();
  });

  async function stockRead(account: string, device: string): Promise<StockClient> {
    const client = readInbox(server, account, device, await deviceToken(server, account, device));
    stock.push(client);
    await client.wrote;
    return client;
  }

  test('[SYNC-1][RULE-20] marks a thread read; the server accepts it, counts it and relays it to another device', async () => {
    await api(server, 'POST', '/v1/accounts/stock/items', { thread: 'inbox', count: 5 });
    await api(server, 'POST', '/v1/accounts/stock/items', { thread: 'news', count: 2 });
    const mac = await devices.connect(server, 'stock', 'mac');
    await synced(mac);
    const phone = await stockRead('stock', 'phone');
    assert.equal(await phone.wrote, packMarker(0, 5));
    await badgeBecomes(server, 'stock', 2);
    assert.deepEqual((await badge(server, 'stock')).threads, { inbox: 0, news: 2 });
    // The other device reads the phone's array as a plain array.
    await waitFor(() => markerOf(mac.doc, 'phone', 'inbox') === packMarker(0, 5), 5000, 'the mac to see the read');
    assert.deepEqual(phone.closes, [], 'never closed');
  });

  test('[SYNC-1][RULE-23][RULE-24] a later session of the device replaces its entry (YKeyValue deletes the old one) and follows a mark-as-unread’s epoch', async () => {
    const mac = await devices.connect(server, 'stock', 'mac2');
    await synced(mac);
    await waitFor(() => markerOf(mac.doc, 'phone', 'inbox') === packMarker(0, 5), 5000, 'the mac2 to sync');
    // Another device marks inbox unread from item 3: epoch 1, seq 2.
    assert.equal(markUnread(mac.doc, 'mac2', 'inbox', 3), packMarker(1, 2));
    await badgeBecomes(server, 'stock', 5);
    await api(server, 'POST', '/v1/accounts/stock/items', { thread: 'inbox', count: 2 });
    await badgeBecomes(server, 'stock', 7);
    // The first session ends; a new one of the same device (one at a time) reads again.
    const first = stock.at(-1) as StockClient;
    first.provider.destroy();
    const again = await stockRead('stock', 'phone');
    assert.equal(await again.wrote, packMarker(1, 7), 'in the current epoch, up to the new head');
    await badgeBecomes(server, 'stock', 2);
    await waitFor(() => markerOf(mac.doc, 'phone', 'inbox') === packMarker(1, 7), 5000, 'the mac2 to see it');
    const live = mac.doc
      .getArray<Entry>('v2/device/phone')
      .toArray()
      .filter((e) => e.key === 'inbox');
    assert.deepEqual(live, [{ key: 'inbox', val: packMarker(1, 7) }], 'the older entry was deleted');
    assert.deepEqual(again.closes, []);
  });
});
