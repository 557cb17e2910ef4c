/**
 * Server client IDs reused across loads in a cluster (SPEC CLUSTER-60, CLUSTER-61, STORE-43, docs/CLUSTER.md
 * "Server client IDs"): two ExactNodes (the server's rooms, group commit and API, each its own
 * PgStore pool, HTTP on port 0) leasing their rooms' server client IDs on one fresh database.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type AccountCounts,
  type AccountId,
  CountsTracker,
  hasV1Content,
  parseAccountId,
  parseThreadId,
  SERVER_DEVICE,
} from '@badgesync/shared';
import { afterAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { IDLE_UNLOAD_MS } from '../src/rooms/room-manager.js';
import { PgStore, SqliteStore } from '../src/store/index.js';
import { API_KEY, ExactNode, type ExactNodeOptions } from './exact-node-rig.js';
import { onDatabase, useMigratedDatabase } from './pg-database.js';

const INBOX = parseThreadId('inbox');
const database = useMigratedDatabase();

async function withNodes(
  options: readonly ExactNodeOptions[],
  work: (nodes: ExactNode[]) => Promise<void>,
): Promise<void> {
  const nodes = await Promise.all(options.map((o) => ExactNode.open(database().url, o)));
  try {
    await work(nodes);
  } finally {
    await Promise.all(nodes.map((node) => node.close()));
  }
}

/** POST …/items: the status and the answered head. */
async function postItem(node: ExactNode, account: AccountId): Promise<{ status: number; head: number | null }> {
  const res = await fetch(`http://127.0.0.1:${node.port}/v1/accounts/${account}/items`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ thread: INBOX }),
  });
  const answer = (await res.json()) as { head?: number };
  return { status: res.status, head: answer.head ?? null };
}

/** Unloads every idle room of the node (the sweep, as if IDLE_UNLOAD_MS had passed). */
async function unloadAll(node: ExactNode): Promise<void> {
  // Rooms handed out this turn are kept until the next macrotask.
  await new Promise((resolve) => setImmediate(resolve));
  node.rooms.sweep(Date.now() + IDLE_UNLOAD_MS + 1);
  assert.equal(node.rooms.size, 0);
  await node.commit.flushed();
  // The lease is free for the other node once the release answered.
  await node.leases?.released();
}

async function serverClients(account: AccountId): Promise<number[]> {
  const rows = await onDatabase<{ client_id: string }>(
    database().url,
    'SELECT client_id FROM client_bindings WHERE account = $1 AND device = $2 ORDER BY client_id',
    [account, SERVER_DEVICE],
  );
  return rows.map((row) => Number(row.client_id));
}

/**
 * The stored document, checked: no two stored structs (snapshot or log entries) claim one
 * (client, clock) — what two writers under one ID at once would leave — and it replays whole.
 */
async function storedDocument(node: ExactNode, account: AccountId): Promise<Y.Doc> {
  const stored = await node.store.loadDoc(account);
  const ranges = new Map<number, Array<[number, number]>>();
  for (const update of stored.updates) {
    for (const struct of Y.decodeUpdate(update).structs) {
      const list = ranges.get(struct.id.client) ?? [];
      list.push([struct.id.clock, struct.id.clock + struct.length]);
      ranges.set(struct.id.client, list);
    }
  }
  for (const [client, list] of ranges) {
    list.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < list.length; i++) {
      const [start] = list[i] as [number, number];
      const [, end] = list[i - 1] as [number, number];
      assert.ok(start >= end, `client ${client}: two stored structs claim clock ${start}`);
    }
  }
  const doc = new Y.Doc();
  for (const update of stored.updates) Y.applyUpdate(doc, update);
  assert.equal(doc.store.pendingStructs, null, 'the stored document replays whole');
  return doc;
}

function headOf(doc: Y.Doc): number {
  const tracker = new CountsTracker(doc);
  try {
    return tracker.head(INBOX);
  } finally {
    tracker.destroy();
  }
}

describe('server client IDs reused across loads in a cluster', () => {
  test('[CLUSTER-60] an account loaded, written and unloaded 20 times on alternating nodes binds one @server client ID, not 20; the documents stay identical and whole', async () => {
    const account = parseAccountId('alternating');
    await withNodes([{ leaseNode: 'n1' }, { leaseNode: 'n2' }], async (nodes) => {
      const heads: number[] = [];
      for (let i = 0; i < 20; i++) {
        const node = nodes[i % 2] as ExactNode;
        const answer = await postItem(node, account);
        assert.equal(answer.status, 200);
        heads.push(answer.head as number);
        await unloadAll(node);
      }
      assert.deepEqual(
        heads,
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      assert.equal((await serverClients(account)).length, 1);
      // Both nodes load it again: the same document as the store's, the same as each other's.
      const stored = await storedDocument(nodes[0] as ExactNode, account);
      assert.equal(headOf(stored), 20);
      const rooms = await Promise.all(nodes.map((node) => node.rooms.acquire(account)));
      for (const room of rooms) {
        assert.deepEqual(Y.encodeStateVector(room.doc), Y.encodeStateVector(stored));
        assert.equal(room.tracker.head(INBOX), 20);
      }
    });
  });

  test('[CLUSTER-60] two nodes holding the account at once, 10 rounds, bind two @server client IDs at most; writes under neither overlap', async () => {
    const account = parseAccountId('overlapping');
    await withNodes([{ leaseNode: 'n1' }, { leaseNode: 'n2' }], async (nodes) => {
      const heads = new Set<number>();
      for (let round = 0; round < 10; round++) {
        const answers = await Promise.all(nodes.flatMap((node) => [postItem(node, account), postItem(node, account)]));
        for (const answer of answers) {
          assert.equal(answer.status, 200);
          heads.add(answer.head as number);
        }
        // Unloaded in turns: one node holds its lease while the other reloads.
        await unloadAll(nodes[round % 2] as ExactNode);
      }
      assert.equal(heads.size, 40);
      assert.ok((await serverClients(account)).length <= 2, `bound ${await serverClients(account)}`);
      const stored = await storedDocument(nodes[0] as ExactNode, account);
      assert.equal(headOf(stored), 40);
      for (const node of nodes) {
        const room = await node.rooms.acquire(account);
        await node.catchUp(account);
        assert.deepEqual(Y.encodeStateVector(room.doc), Y.encodeStateVector(stored));
      }
    });
  });

  test('[CLUSTER-61] a lease that lapsed while its node lives: another node takes the ID, the first node writes nothing under it (the fence refuses), its room reloads under another ID, the document stays whole', async () => {
    const account = parseAccountId('lapsed');
    // n1's leases lapse after 300 ms and are never renewed in the test's time.
    await withNodes([{ leaseNode: 'n1', leaseMs: 300, renewMs: 3_600_000 }, { leaseNode: 'n2' }], async (nodes) => {
      const [one, two] = nodes as [ExactNode, ExactNode];
      assert.equal((await postItem(one, account)).status, 200);
      const first = (await one.rooms.acquire(account)).serverLease;
      await new Promise((resolve) => setTimeout(resolve, 500));
      // n2 takes the lapsed ID (one's room still holds it in memory) and writes under it.
      assert.equal((await postItem(two, account)).head, 2);
      const taken = (await two.rooms.acquire(account)).serverLease;
      assert.equal(taken?.clientId, first?.clientId);
      // n1's next write under it is refused by the fence: nothing written, the room dropped.
      const refused = await postItem(one, account);
      assert.equal(refused.status, 500);
      assert.equal(one.rooms.peek(account), undefined);
      // The next ingest on n1 reloads under another lease and answers the head after n2's.
      assert.equal((await postItem(one, account)).head, 3);
      const second = (await one.rooms.acquire(account)).serverLease;
      assert.notEqual(second?.clientId, first?.clientId);
      const stored = await storedDocument(one, account);
      assert.equal(headOf(stored), 3);
      assert.equal((await serverClients(account)).length, 2);
    });
  });

  test('[CLUSTER-61] a renewal that finds the lease taken by another node drops the room before it writes again', async () => {
    const account = parseAccountId('renewed');
    await withNodes([{ leaseNode: 'n1', leaseMs: 300, renewMs: 3_600_000 }, { leaseNode: 'n2' }], async (nodes) => {
      const [one, two] = nodes as [ExactNode, ExactNode];
      assert.equal((await postItem(one, account)).status, 200);
      const room = await one.rooms.acquire(account);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal((await postItem(two, account)).status, 200);
      assert.equal(room.poisoned, false);
      await one.leases?.renew();
      assert.equal(room.poisoned, true);
      assert.equal((await postItem(one, account)).head, 3);
      await storedDocument(one, account);
    });
  });
});

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const scratch = mkdtempSync(join(tmpdir(), 'badgesync-v1-cluster-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('a v1 document loaded by two nodes at once', () => {
  test('[STORE-43] [STORE-16] two nodes loading one v1 document at once migrate it once: one new @server ID, both rooms hold the same v2 document', async () => {
    // The v1 server's fixture account "ann", committed into the database as its log.
    const account = parseAccountId('ann');
    const file = join(scratch, 'v1.db');
    copyFileSync(join(FIXTURES, 'v1-accounts.db'), file);
    const source = new SqliteStore(file);
    const expected = source.getCounts(account) as AccountCounts;
    const seed = await PgStore.open({ url: database().url });
    try {
      await seed.commit({
        updates: source.loadDoc(account).updates.map((update) => ({ account, update })),
        counts: [{ account, counts: expected }],
        bindings: [...source.loadBindings(account)].map(([clientId, device]) => ({ account, clientId, device })),
        idempotency: [],
      });
    } finally {
      source.close();
      await seed.close();
    }
    const before = await serverClients(account);
    await withNodes([{ leaseNode: 'n1' }, { leaseNode: 'n2' }], async (nodes) => {
      const rooms = await Promise.all(nodes.map((node) => node.rooms.acquire(account)));
      // One migration: one more @server ID (the conversion's); the leased ones bind when written.
      assert.equal((await serverClients(account)).length, before.length + 1);
      const stored = await storedDocument(nodes[0] as ExactNode, account);
      assert.equal(hasV1Content(stored), false);
      for (const room of rooms) {
        assert.deepEqual(Y.encodeStateVector(room.doc), Y.encodeStateVector(stored));
        assert.deepEqual(room.tracker.counts(), expected);
      }
      // Both go on writing on that one document.
      const answers = await Promise.all(nodes.map((node) => postItem(node, account)));
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 200]);
      await storedDocument(nodes[0] as ExactNode, account);
    });
  });
});
