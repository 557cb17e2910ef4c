/**
 * The v1 → v2 migration inside the room (SPEC STORE-16), on both stores: the committed v1
 * fixture (test/fixtures/v1-accounts.db, made by the v1 server) copied into a MemoryStore and a
 * SQLite file, each account loaded by a real AccountRoom. test/v1-migration.test.ts does the
 * same through the real server process.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AccountCounts,
  type AccountId,
  type DeviceId,
  deriveCounts,
  HEADS_ROOT,
  hasV1Content,
  SERVER_DEVICE,
  type ThreadId,
} from '@badgesync/shared';
import { pino } from 'pino';
import { afterAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { Metrics } from '../src/metrics.js';
import { AccountRoom } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { RoomManager } from '../src/rooms/room-manager.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore, SqliteStore, type Store, type SyncStore } from '../src/store/index.js';
import { valueIn } from './room-rig.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'v1-accounts.expected.json'), 'utf8')) as {
  readonly counts: Record<string, AccountCounts>;
};
const ACCOUNTS = Object.keys(expected.counts) as AccountId[];
const MIGRATED = 'account document migrated to contract v2';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-room-migration-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A fresh copy of the fixture as a SQLite file. */
function sqliteFixture(): SqliteStore {
  const path = join(dir, `fixture-${++files}.db`);
  copyFileSync(join(FIXTURES, 'v1-accounts.db'), path);
  return new SqliteStore(path);
}

/** The fixture's documents, bindings and counts, committed into a MemoryStore (the log as log entries). */
function memoryFixture(): MemoryStore {
  const source = sqliteFixture();
  const store = new MemoryStore();
  for (const account of ACCOUNTS) {
    store.commit({
      updates: source.loadDoc(account).updates.map((update) => ({ account, update })),
      counts: [{ account, counts: source.getCounts(account) as AccountCounts }],
      bindings: [...source.loadBindings(account)].map(([clientId, device]) => ({ account, clientId, device })),
      idempotency: [],
    });
  }
  source.close();
  return store;
}

const STORES: ReadonlyArray<readonly [string, () => SyncStore]> = [
  ['MemoryStore', memoryFixture],
  ['SqliteStore', sqliteFixture],
];

/** Loads `account` in a real room on `store`; `lines` collects what it logged. */
function load(store: SyncStore, account: AccountId, lines: Array<Record<string, unknown>>): Promise<AccountRoom> {
  const metrics = new Metrics();
  const served = asyncStore(store);
  const commit = new GroupCommit(served, metrics, (err) => assert.fail(String(err)));
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return AccountRoom.load(account, {
    store: served,
    commit,
    metrics,
    log,
    events: { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} },
  });
}

function storedDoc(store: SyncStore, account: AccountId): Y.Doc {
  const doc = new Y.Doc();
  for (const update of store.loadDoc(account).updates) Y.applyUpdate(doc, update);
  return doc;
}

for (const [name, makeStore] of STORES) {
  describe(`v1 migration in the room (${name})`, () => {
    test('[STORE-16] each v1 account converts as it loads, in one replacement: the v1 counts, v2 only, bindings kept, one info line', async () => {
      const store = makeStore();
      try {
        for (const account of ACCOUNTS) {
          const bindings = store.loadBindings(account);
          assert.ok(hasV1Content(storedDoc(store, account)), `${account} starts as v1`);
          const lines: Array<Record<string, unknown>> = [];
          const room = await load(store, account, lines);
          assert.deepEqual(room.tracker.counts(), expected.counts[account], `${account}: counts in the room`);
          assert.equal(hasV1Content(room.doc), false);
          const stored = store.loadDoc(account);
          assert.deepEqual([stored.updates.length, stored.logCount], [1, 0], `${account}: one snapshot`);
          assert.deepEqual(deriveCounts(storedDoc(store, account)), expected.counts[account]);
          assert.deepEqual(store.getCounts(account), expected.counts[account], `${account}: stored counts`);
          const after = store.loadBindings(account);
          assert.deepEqual(
            [...after].filter(([clientId]) => !bindings.has(clientId)).map(([, device]) => device),
            [SERVER_DEVICE],
          );
          for (const [clientId, device] of bindings) assert.equal(after.get(clientId), device);
          const migrated = lines.filter((line) => line.msg === MIGRATED);
          assert.equal(migrated.length, 1);
          assert.equal(migrated[0]?.account, account);
          assert.equal(migrated[0]?.level, 30);
          room.destroy();
        }
      } finally {
        store.close();
      }
    });

    test('[STORE-16] [BUDGET-1] a migrated account loads without converting again; the server keeps writing under its migration client ID, never a v1 one', async () => {
      const store = makeStore();
      try {
        const account = 'ann' as AccountId;
        const v1ServerIds = [...store.loadBindings(account)].filter(([, d]) => d === SERVER_DEVICE).map(([id]) => id);
        assert.ok(v1ServerIds.length > 0, 'the v1 server wrote in this account');
        const first = await load(store, account, []);
        const migrationId = first.doc.clientID;
        assert.equal(v1ServerIds.includes(migrationId), false);
        first.destroy();
        const snapshot = Buffer.from(store.loadDoc(account).updates[0] as Uint8Array).toString('hex');

        const lines: Array<Record<string, unknown>> = [];
        const again = await load(store, account, lines);
        assert.deepEqual(
          lines.filter((line) => line.msg === MIGRATED),
          [],
        );
        assert.equal(Buffer.from(store.loadDoc(account).updates[0] as Uint8Array).toString('hex'), snapshot);
        assert.equal(again.doc.clientID, migrationId, 'the server writes under the ID that wrote the v2 document');
        const inbox = 'inbox' as ThreadId;
        const head = again.tracker.head(inbox);
        again.serverWrite(({ heads }) => heads.set(inbox, head + 1));
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setImmediate(resolve));
        again.destroy();
        const third = await load(store, account, []);
        assert.equal(valueIn(third.doc, HEADS_ROOT, inbox), head + 1);
        assert.equal(third.doc.clientID, migrationId);
        const servers = [...store.loadBindings(account)].filter(([, d]) => d === SERVER_DEVICE);
        assert.equal(servers.length, v1ServerIds.length + 1, 'one @server binding added in all');
        third.destroy();
      } finally {
        store.close();
      }
    });

    test('[STORE-16] when the replacement fails, the v1 document stays as it was and the account does not load', async () => {
      const real = makeStore();
      const failing = new Proxy(real, {
        get(target, prop) {
          if (prop === 'replaceDoc') {
            return () => {
              throw new Error('disk full');
            };
          }
          const value: unknown = Reflect.get(target, prop, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      try {
        const account = 'bob' as AccountId;
        const before = real.loadDoc(account).updates.map((u) => Buffer.from(u).toString('hex'));
        const bindings = real.loadBindings(account);
        await assert.rejects(load(failing, account, []), /disk full/);
        assert.deepEqual(
          real.loadDoc(account).updates.map((u) => Buffer.from(u).toString('hex')),
          before,
        );
        assert.deepEqual(real.loadBindings(account), bindings);
        const room = await load(real, account, []);
        assert.deepEqual(room.tracker.counts(), expected.counts.bob, 'a later load converts it');
        room.destroy();
      } finally {
        real.close();
      }
    });
  });
}

describe('v1 migration through the room manager', () => {
  test('[SYNC-16] [STORE-16] a v1 account is published only once its replaceDoc resolved: callers meanwhile wait for the same room', async () => {
    const sync = memoryFixture();
    const account = 'bob' as AccountId;
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let replacing = 0;
    // replaceDoc answers only when the test releases it, as a store across the network would.
    const store: Store = new Proxy(asyncStore(sync), {
      get(target, prop) {
        if (prop === 'replaceDoc') {
          return async (...args: Parameters<Store['replaceDoc']>) => {
            replacing++;
            await held;
            return target.replaceDoc(...args);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const metrics = new Metrics();
    const commit = new GroupCommit(store, metrics, (err) => assert.fail(String(err)));
    const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
    const rooms = new RoomManager({ store, commit, metrics, log: pino({ level: 'silent' }), events }, 10);
    try {
      const first = rooms.acquire(account);
      while (replacing === 0) await new Promise((resolve) => setImmediate(resolve));
      const second = rooms.acquire(account);
      assert.equal(rooms.peek(account), undefined, 'not published while the replacement is in flight');
      assert.ok(hasV1Content(storedDoc(sync, account)), 'the store still holds the v1 document');
      release();
      const [a, b] = await Promise.all([first, second]);
      assert.equal(a, b);
      assert.equal(replacing, 1, 'converted once');
      assert.equal(rooms.peek(account), a);
      assert.equal(hasV1Content(storedDoc(sync, account)), false);
      assert.deepEqual(a.tracker.counts(), expected.counts.bob);
    } finally {
      rooms.close();
      await commit.close();
      sync.close();
    }
  });
});

/** Guards the fixture: it holds what the migration tests claim to cover. */
describe('the v1 fixture', () => {
  test('[STORE-16] holds a snapshot with a log after it, several devices per account, a mark-as-unread, an API read and both mutes', () => {
    const store = sqliteFixture();
    try {
      const ann = store.loadDoc('ann' as AccountId);
      assert.ok(ann.updates.length > ann.logCount && ann.logCount > 0, 'ann: a snapshot and a log');
      const doc = storedDoc(store, 'ann' as AccountId);
      const reads = doc.getMap<number>('reads').toJSON() as Record<string, number>;
      const devices = new Set(Object.keys(reads).map((key) => key.split('/')[1] as DeviceId));
      assert.ok(devices.has(SERVER_DEVICE) && devices.size >= 4, [...devices].join());
      assert.ok(
        Object.values(reads).some((marker) => marker >= 2 ** 32),
        'a marker of a newer epoch',
      );
      assert.deepEqual(doc.getMap('mutes').toJSON(), { family: true, news: false });
    } finally {
      store.close();
    }
  });
});
