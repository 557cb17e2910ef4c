/**
 * Migration of contract-v1 documents (SPEC STORE-16, SYNC-14), on a real v1 database: the
 * committed fixture test/fixtures/v1-accounts.db, made by the v1 server through its own write
 * path (test/fixtures/make-v1-fixture.ts), with the counts each account had under v1. The real
 * server process starts on a copy; each account converts as it loads, with the same counts,
 * once; the devices' bindings stay; a v2 write then counts, and v1 content is refused with 4410.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AccountCounts,
  type AccountId,
  CloseCode,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  hasV1Content,
  KeyValueArray,
  packMarker,
  planRead,
  type ThreadId,
} from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { mintDeviceToken } from '../src/auth/device-token.js';
import { SqliteStore } from '../src/store/index.js';
import { type ServerProcess, startServer, stopAllServers } from './server-process.js';
import { SocketClient } from './socket-client.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'v1-accounts.expected.json'), 'utf8')) as {
  readonly apiKey: string;
  readonly deviceSecret: string;
  readonly counts: Record<string, AccountCounts>;
};
const ACCOUNTS = Object.keys(expected.counts) as AccountId[];
const MIGRATED = 'account document migrated to contract v2';
const ENV = { BADGESYNC_API_KEY: expected.apiKey, BADGESYNC_DEVICE_SECRET: expected.deviceSecret };

const dir = mkdtempSync(join(tmpdir(), 'badgesync-v1-migration-'));
const db = join(dir, 'badgesync.db');
/** The v1 documents and bindings as the fixture holds them, read from an untouched copy. */
const v1 = new Map<AccountId, { readonly doc: Y.Doc; readonly bindings: Map<number, DeviceId> }>();

beforeAll(() => {
  copyFileSync(join(FIXTURES, 'v1-accounts.db'), db);
  const pristine = join(dir, 'pristine.db');
  copyFileSync(join(FIXTURES, 'v1-accounts.db'), pristine);
  const store = new SqliteStore(pristine);
  for (const account of ACCOUNTS) {
    const doc = new Y.Doc();
    for (const update of store.loadDoc(account).updates) Y.applyUpdate(doc, update);
    assert.ok(hasV1Content(doc), `the fixture's ${account} is a v1 document`);
    v1.set(account, { doc, bindings: store.loadBindings(account) });
  }
  store.close();
});

afterAll(async () => {
  await stopAllServers();
  rmSync(dir, { recursive: true, force: true });
});

function syncUrl(server: ServerProcess, account: AccountId, token: string): string {
  return `ws://127.0.0.1:${server.port}/v1/sync/${account}?token=${token}`;
}

async function connect(server: ServerProcess, account: AccountId, device: string, doc?: Y.Doc): Promise<SocketClient> {
  const token = await mintDeviceToken(expected.deviceSecret, account, device as DeviceId, 600);
  return new SocketClient(syncUrl(server, account, token), doc);
}

async function badge(server: ServerProcess, account: AccountId): Promise<AccountCounts> {
  const response = await fetch(`${server.http}/v1/accounts/${account}/badge`, {
    headers: { authorization: `Bearer ${expected.apiKey}` },
  });
  assert.equal(response.status, 200);
  return (await response.json()) as AccountCounts;
}

/** The value of one sample of the server's /metrics, 0 when absent. */
async function metric(server: ServerProcess, sample: string): Promise<number> {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

function migrations(server: ServerProcess): Array<Record<string, unknown>> {
  return server.logs.filter((line) => line.msg === MIGRATED);
}

/** How long the migration log lines may take to arrive through the pipe on a loaded machine. */
const LOG_WAIT_MS = 10_000;

/**
 * Waits until `count` log lines with the message `msg` have arrived, or LOG_WAIT_MS has passed
 * (the assertion after it then says what is missing).
 */
async function waitForLines(server: ServerProcess, msg: string, count: number): Promise<void> {
  const until = Date.now() + LOG_WAIT_MS;
  while (server.logs.filter((line) => line.msg === msg).length < count && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('v1 documents migrate on load', () => {
  test('[STORE-16] every v1 account converts once as it loads: v2 only, the counts it had under v1, the bindings kept', async () => {
    let server = await startServer(db, ENV);
    for (const account of ACCOUNTS) {
      const device = await connect(server, account, 'checker');
      await device.step2();
      // The document the server now serves derives the counts the account had under v1.
      assert.equal(hasV1Content(device.doc), false, `${account}: the server still serves v1 content`);
      assert.deepEqual(deriveCounts(device.doc), expected.counts[account], `${account}: the counts changed`);
      assert.deepEqual(await badge(server, account), expected.counts[account], `${account}: GET /badge`);
      device.close();
      await device.closed;
    }
    // The log reaches the test through the child's stdout pipe, after the answers it follows: on a
    // loaded machine the last line may still be on its way.
    await waitForLines(server, MIGRATED, ACCOUNTS.length);
    const lines = migrations(server);
    assert.deepEqual(lines.map((line) => line.account).sort(), [...ACCOUNTS].sort(), 'one info line per account');
    assert.ok(lines.every((line) => line.level === 30));
    assert.equal(await metric(server, 'badgesync_documents_migrated_total'), ACCOUNTS.length);
    assert.equal(await server.stop(), 0);

    // On disk: one v2 snapshot per account, no log, every v1 binding kept plus the server's new one.
    const store = new SqliteStore(db);
    const snapshots = new Map<AccountId, string>();
    for (const account of ACCOUNTS) {
      const stored = store.loadDoc(account);
      assert.equal(stored.updates.length, 1, `${account}: one snapshot`);
      assert.equal(stored.logCount, 0);
      const doc = new Y.Doc();
      Y.applyUpdate(doc, stored.updates[0] as Uint8Array);
      assert.equal(hasV1Content(doc), false);
      assert.deepEqual(deriveCounts(doc), expected.counts[account]);
      const before = v1.get(account)?.bindings ?? new Map();
      const after = store.loadBindings(account);
      for (const [clientId, device] of before) assert.equal(after.get(clientId), device, `${account}: binding kept`);
      const added = [...after].filter(([clientId]) => !before.has(clientId));
      assert.deepEqual(
        added.map(([, device]) => device),
        ['@server'],
        `${account}: the server's new client ID is bound to it`,
      );
      const [serverClient] = added[0] as [number, DeviceId];
      assert.deepEqual([...doc.store.clients.keys()], [serverClient], 'the v2 document is written by it alone');
      assert.equal(v1.get(account)?.doc.store.clients.has(serverClient), false, 'an ID no v1 replica holds');
      snapshots.set(account, Buffer.from(stored.updates[0] as Uint8Array).toString('hex'));
    }
    store.close();

    // Loaded again: nothing converts a second time; the snapshot is the same bytes.
    server = await startServer(db, ENV);
    for (const account of ACCOUNTS) {
      const device = await connect(server, account, 'checker');
      await device.step2();
      assert.deepEqual(deriveCounts(device.doc), expected.counts[account]);
      device.close();
      await device.closed;
    }
    assert.deepEqual(migrations(server), [], 'a v2 document is not converted again');
    assert.equal(await server.stop(), 0);
    const reopened = new SqliteStore(db);
    for (const account of ACCOUNTS) {
      const [snapshot] = reopened.loadDoc(account).updates;
      assert.equal(Buffer.from(snapshot as Uint8Array).toString('hex'), snapshots.get(account));
    }
    reopened.close();
  });

  test('[SYNC-14] [CLOSE-8] after the migration a device’s v2 read counts; v1 content, a fresh write or an old replica, is closed with 4410', async () => {
    const server = await startServer(db, ENV);
    const ann = 'ann' as AccountId;
    const chat = 'chat' as ThreadId;
    const before = expected.counts.ann as AccountCounts;
    assert.equal(before.threads.chat, 10);

    // The laptop, a v1 device, comes back with a fresh replica and reads the chat through v2.
    const laptop = await connect(server, ann, 'laptop');
    await laptop.step2();
    const tracker = new CountsTracker(laptop.doc);
    const head = tracker.head(chat);
    const value = planRead(tracker, chat, 'laptop' as DeviceId, head);
    assert.equal(value, packMarker(0, head));
    new KeyValueArray(laptop.doc, deviceRoot('laptop' as DeviceId)).set(chat, value as number);
    await laptop.step2();
    const after = await badge(server, ann);
    assert.equal(after.threads.chat, 0);
    assert.equal(after.badge, before.badge - 10);
    assert.deepEqual(tracker.counts(), after, 'the device derives what the server stored');

    // A stock v1 client writes the v1 maps: 4410, nothing applied, the laptop stays connected.
    const v1Writer = await connect(server, ann, 'phone');
    await v1Writer.step2();
    v1Writer.doc.getMap<number>('reads').set('chat/phone', packMarker(5, 1));
    const closed = await v1Writer.closed;
    assert.equal(closed.code, CloseCode.replicaOutdated);
    assert.match(closed.reason, /^v1_document/);

    // An old replica (bob's v1 document as his devices held it) sends it in its step 2: 4410.
    const old = new Y.Doc();
    Y.applyUpdate(old, Y.encodeStateAsUpdate(v1.get('bob' as AccountId)?.doc as Y.Doc));
    const desk = await connect(server, 'bob' as AccountId, 'desk', old);
    const deskClosed = await desk.closed;
    assert.equal(deskClosed.code, CloseCode.replicaOutdated);

    assert.deepEqual(await badge(server, ann), after, 'the refused writes changed nothing');
    assert.deepEqual(await badge(server, 'bob' as AccountId), expected.counts.bob);
    laptop.close();
    await waitForLines(server, 'update refused', 2);
    const refusals = server.logs.filter((line) => line.msg === 'update refused').map((line) => line.reason);
    assert.deepEqual(refusals, ['v1_document', 'v1_document']);
    assert.equal(await metric(server, 'badgesync_updates_refused_total{reason="v1_document"}'), 2);
    assert.equal(await metric(server, 'badgesync_connection_closes_total{code="4410"}'), 2);
    assert.equal(await server.stop(), 0);
  });
});
