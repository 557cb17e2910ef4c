/**
 * Regenerates the fuzz corpus from real traffic: `pnpm fuzz:corpus`. Runs a scripted session
 * against the real server process through a recording proxy — the backend API calls of the
 * API tests, two SDK devices (sync, mark read, mute, mark unread, an offline edit and a
 * reconnect, push registration, sign-out) and two stock y-websocket providers (sync, reads,
 * mutes, awareness, an offline edit and a reconnect) — and stores what the clients sent.
 */
import { BadgeSync, MemoryStorage } from '@badgesync/client';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { until } from '../demo/sdk-device.js';
import { Tunnel } from '../demo/tunnel.js';
import { api, deviceToken } from '../helpers/api-client.js';
import { headOf, markerOf } from '../helpers/entries.js';
import { markMuted, setEntry } from '../helpers/marks.js';
import { startServer, stopAll } from '../helpers/server-process.js';
import { type HttpSeed, type SyncSeed, saveCorpus, toPlaceholders } from './corpus.js';
import { joinSyncFrame, splitSyncFrame, varUint } from './mutate.js';
import { type RecordedFrame, RecordingProxy, recordingWebSocket } from './recorder.js';

const ACCOUNT = 'ann';
/** Waits in this script: generous, the machine may be busy. */
const WAIT_MS = 10_000;

async function main(): Promise<void> {
  const server = await startServer();
  const proxy = await RecordingProxy.open(server.port);
  const frames: RecordedFrame[] = [];
  const viaProxy = { ...server, http: proxy.http, syncUrl: proxy.syncUrl };
  try {
    await apiSession(viaProxy);
    await sdkSession(viaProxy, proxy, frames);
    await providerSession(viaProxy, frames);
    await apiTail(viaProxy);
  } finally {
    await proxy.close();
    await stopAll();
  }
  const http = httpSeeds(proxy, server.apiKey);
  const sync = syncSeeds(frames);
  sync.push(...handSeeds(sync));
  saveCorpus(http, sync);
  console.log(`corpus: ${http.length} HTTP requests, ${sync.length} sync sessions (${frames.length} frames)`);
  // The stock providers leave timers behind after destroy(); the corpus is written, so stop.
  process.exit(0);
}

type Target = Parameters<typeof api>[0] & Parameters<typeof deviceToken>[0] & { syncUrl: string };

/** What the API tests send: items, reads, badges, devices, errors. */
async function apiSession(server: Target): Promise<void> {
  const a = `/v1/accounts/${ACCOUNT}`;
  await api(server, 'POST', `${a}/items`, { thread: 'inbox', count: 5 });
  await api(server, 'POST', `${a}/items`, { thread: 'news', count: 3, idempotencyKey: 'k-1' });
  await api(server, 'POST', `${a}/items`, { thread: 'news', count: 3, idempotencyKey: 'k-1' });
  await api(server, 'POST', `${a}/items`, { thread: 'inbox' });
  await api(server, 'POST', `${a}/read`, { thread: 'news', seq: 2 });
  await api(server, 'GET', `${a}/badge`);
  await api(server, 'PUT', `${a}/devices/phone`, {
    apnsToken: 'ab'.repeat(32),
    environment: 'sandbox',
    topic: 'com.example.app',
    badges: true,
  });
  // Registrations of the other platforms, one refused for its host, and the VAPID key route.
  await api(server, 'PUT', `${a}/devices/android`, {
    platform: 'fcm',
    fcmToken: 'fcm-token:abc_DEF-123',
    badges: true,
  });
  const subscription = {
    endpoint: 'https://fcm.googleapis.com/fcm/send/capture-endpoint',
    keys: {
      p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 7)]).toString('base64url'),
      auth: Buffer.alloc(16, 9).toString('base64url'),
    },
  };
  await api(server, 'PUT', `${a}/devices/browser`, { platform: 'webpush', subscription });
  await api(server, 'PUT', `${a}/devices/browser2`, {
    platform: 'webpush',
    subscription: { ...subscription, endpoint: 'https://127.0.0.1/not-a-push-service' },
  });
  await api(server, 'GET', '/v1/push/webpush-key');
  await api(server, 'GET', '/v1/push/webpush-key', undefined, null);
  await api(server, 'GET', '/healthz', undefined, null);
  await api(server, 'GET', '/readyz', undefined, null);
  await api(server, 'POST', '/readyz', {}, null);
  await api(server, 'GET', '/metrics', undefined, null);
  await api(server, 'GET', '/v1/nope');
  await api(server, 'DELETE', `${a}/badge`);
  await api(server, 'POST', `${a}/items`, { thread: 't' }, null);
  await api(server, 'POST', `${a}/items`, { thread: 't' }, 'wrong-key');
  await api(server, 'POST', `${a}/items`, '{"thread": "t",');
  await api(server, 'POST', `${a}/items`, { thread: 'bad/thread' });
  await api(server, 'POST', `${a}/items`, { thread: 'inbox', count: 0 });
  await api(server, 'POST', `${a}/read`, { thread: 'inbox', seq: -1 });
  await api(server, 'GET', '/v1/accounts/bad%20id/badge');
  const phone = await deviceToken(server, ACCOUNT, 'phone');
  await api(server, 'PUT', `${a}/devices/phone`, { badges: false }, phone);
  await api(server, 'GET', `${a}/badge`, undefined, phone);
  await api(server, 'PUT', `${a}/devices/mac`, {}, phone);
}

/** Sign-out and a request with a token for another account, at the end (they revoke). */
async function apiTail(server: Target): Promise<void> {
  const a = `/v1/accounts/${ACCOUNT}`;
  const other = await deviceToken(server, 'bob', 'phone');
  await api(server, 'PUT', `${a}/devices/phone`, {}, other);
  await api(server, 'DELETE', `${a}/devices/ipad`);
  await api(server, 'DELETE', `${a}/devices/phone`, undefined, await deviceToken(server, ACCOUNT, 'phone'));
}

async function sdkSession(server: Target, proxy: RecordingProxy, frames: RecordedFrame[]): Promise<void> {
  const link = await Tunnel.open(proxy.port);
  const device = async (id: string, serverUrl: string) => {
    const sync = new BadgeSync({
      serverUrl,
      httpUrl: server.http,
      deviceId: id,
      storage: new MemoryStorage(),
      WebSocket: recordingWebSocket(frames, 'sdk', id),
      heartbeatMs: 400,
      backoff: { baseMs: 50, capMs: 1_000 },
    });
    const account = await sync.signIn(ACCOUNT, { getToken: () => deviceToken(server, ACCOUNT, id) });
    return { sync, account };
  };
  const mac = await device('mac', server.syncUrl);
  const ipad = await device('ipad', link.url);
  try {
    await Promise.all([mac.account.whenSynced(WAIT_MS), ipad.account.whenSynced(WAIT_MS)]);
    mac.account.markRead('inbox', 3);
    await until(() => ipad.account.unread('inbox') === 3, WAIT_MS, 'ipad sees the read');
    ipad.account.mute('news', true);
    ipad.account.markUnread('inbox', 2);
    await until(() => mac.account.isMuted('news'), WAIT_MS, 'mac sees the mute');
    link.cut();
    await until(() => ipad.account.status.state !== 'synced', WAIT_MS, 'ipad offline');
    ipad.account.markRead('inbox', 6);
    ipad.account.mute('news', false);
    await api(server, 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread: 'inbox', count: 2 });
    link.restore();
    await ipad.account.whenSynced(WAIT_MS);
    await until(() => mac.account.unread('inbox') === ipad.account.unread('inbox'), WAIT_MS, 'converged');
    mac.account.markAllRead();
    await ipad.sync.registerPush({ apnsToken: 'cd'.repeat(32), environment: 'sandbox', badges: true });
    await until(() => ipad.account.badge === 0, WAIT_MS, 'ipad sees mark-all-read');
  } finally {
    await Promise.all([mac.sync.close(), ipad.sync.close()]);
    await link.close();
  }
}

async function providerSession(server: Target, frames: RecordedFrame[]): Promise<void> {
  const provider = async (id: string) => {
    const doc = new Y.Doc();
    const p = new WebsocketProvider(server.syncUrl, ACCOUNT, doc, {
      WebSocketPolyfill: recordingWebSocket(frames, 'provider', id) as unknown as typeof globalThis.WebSocket,
      params: { token: await deviceToken(server, ACCOUNT, id) },
      disableBc: true,
    });
    p.awareness.setLocalState({ user: id, viewing: 'inbox' });
    await until(() => p.synced, WAIT_MS, `${id} synced`);
    return { doc, p };
  };
  const one = await provider('p1');
  const two = await provider('p2');
  try {
    setEntry(one.doc, 'p1', 'inbox', headOf(one.doc, 'inbox') - 1);
    markMuted(two.doc, 'p2', 'news', true);
    two.p.awareness.setLocalStateField('viewing', 'news');
    await until(() => markerOf(two.doc, 'p1', 'inbox') > 0, WAIT_MS, 'p2 sees p1 read');
    two.p.disconnect();
    two.doc.transact(() => {
      setEntry(two.doc, 'p2', 'inbox', headOf(two.doc, 'inbox'));
      setEntry(two.doc, 'p2', 'news', 2 ** 32 + 1);
      markMuted(two.doc, 'p2', 'news', false);
    });
    setEntry(one.doc, 'p1', 'inbox', headOf(one.doc, 'inbox'));
    two.p.connect();
    await until(() => two.p.synced, WAIT_MS, 'p2 synced again');
    await until(() => markerOf(one.doc, 'p2', 'inbox') > 0, WAIT_MS, 'p1 sees p2 offline read');
  } finally {
    one.p.destroy();
    two.p.destroy();
  }
}

/** Splits each recorded connection into requests; an upgrade's connection ends at its request. */
function httpSeeds(proxy: RecordingProxy, apiKey: string): HttpSeed[] {
  const seen = new Set<string>();
  const seeds: HttpSeed[] = [];
  for (const connection of proxy.connections) {
    let rest = Buffer.concat(connection.bytes);
    while (rest.length > 0) {
      const end = rest.indexOf('\r\n\r\n');
      if (end < 0) break;
      const head = rest.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      const request = rest.subarray(0, end + 4 + length);
      rest = rest.subarray(end + 4 + length);
      const text = toPlaceholders(request.toString('latin1'), apiKey)
        .replace(/\r\nhost: [^\r]*/i, '\r\nhost: 127.0.0.1')
        .replace(/\r\nsec-websocket-key: [^\r]*/i, '\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==');
      if (!seen.has(text)) {
        seen.add(text);
        seeds.push({ name: text.slice(0, text.indexOf(' HTTP/')), bytes: Buffer.from(text, 'latin1') });
      }
      if (/\r\nupgrade:/i.test(head)) break;
    }
  }
  return seeds;
}

/**
 * Hand-written seeds for constructs honest clients seldom send, each after a real session
 * of provider p1 (so its client ID and items exist): a query-awareness message, a GC struct
 * under a fresh client ID, a GC struct at p1's next clock, a delete set over p1's own first
 * item, and a skip struct. Mutation then puts boundary numbers into their clocks and lengths.
 */
function handSeeds(sync: readonly SyncSeed[]): SyncSeed[] {
  const p1 = sync.find((seed) => seed.name === 'provider-p1-0');
  if (p1 === undefined) throw new Error('the session of p1 was not recorded');
  const doc = new Y.Doc();
  for (const frame of p1.frames) {
    const split = splitSyncFrame(frame);
    if (split !== null && frame[0] === 0 && frame[1] !== 0) Y.applyUpdate(doc, split.payload);
  }
  const [client, next] = [...Y.decodeStateVector(Y.encodeStateVector(doc))].find(([, clock]) => clock > 0) ?? [1, 0];
  const update = (...bytes: number[][]) => joinSyncFrame(Uint8Array.of(0, 2), Uint8Array.from(bytes.flat()));
  const fresh = 0x5eed;
  const noDeletes = [0];
  return [
    { name: 'hand-query-awareness', device: 'mac', frames: [Uint8Array.of(3)] },
    {
      name: 'hand-gc-fresh-client',
      device: 'p1',
      frames: [...p1.frames, update([1, 1], varUint(fresh), [0, 0, 5], noDeletes)],
    },
    {
      name: 'hand-gc-next-clock',
      device: 'p1',
      frames: [...p1.frames, update([1, 1], varUint(client), varUint(next), [0, 3], noDeletes)],
    },
    { name: 'hand-delete-own-item', device: 'p1', frames: [...p1.frames, update([0, 1], varUint(client), [1, 0, 1])] },
    {
      name: 'hand-skip-struct',
      device: 'p1',
      frames: [...p1.frames, update([1, 2], varUint(client), varUint(next), [10, 2, 0, 1], noDeletes)],
    },
  ];
}

/** One seed per device connection: its frames in the order it sent them. */
function syncSeeds(frames: readonly RecordedFrame[]): SyncSeed[] {
  const byConnection = new Map<string, { device: string; frames: Uint8Array[] }>();
  for (const frame of frames) {
    const key = `${frame.source}-${frame.device}-${frame.connection}`;
    const entry = byConnection.get(key) ?? { device: frame.device, frames: [] };
    entry.frames.push(frame.bytes);
    byConnection.set(key, entry);
  }
  return [...byConnection].map(([name, entry]) => ({ name, device: entry.device, frames: entry.frames }));
}

await main();
