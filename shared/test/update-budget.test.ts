/**
 * The document budgets' check of contract v2 (shared/src/update-budget.ts) on server
 * documents built through the write rules: what counts as a new client ID, concurrent
 * inserts at one place of an array, live entries of one key, the scan Yjs does to place an
 * insert, and new keys. The end-to-end proofs are in test/e2e/document-budgets.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  type BudgetVerdict,
  checkBudgets,
  type DeviceId,
  type DocumentBudgets,
  deviceRoot,
  KeyValueArray,
  muteKey,
  packMuteStamp,
  SCAN_PER_CONCURRENT_WRITE,
  type ThreadId,
} from '../src/index.js';
import { type ForgedBlock, forgeUpdate } from './helpers/forge.js';
import { ServerPeer } from './helpers/server-peer.js';
import { DeviceReplica } from './helpers/world.js';

const BUDGETS: DocumentBudgets = {
  newClientsPerUpdate: 64,
  clientsPerDevice: 100,
  clientsPerAccount: 200,
  concurrentPerKey: 16,
  mutesPerAccount: 5,
  readsPerAccount: 1000,
};

const A = 'phone-a' as DeviceId;
const ROOT_A = deviceRoot(A);

function check(
  server: ServerPeer,
  update: Uint8Array,
  newClients = 0,
  budgets: Partial<DocumentBudgets> = {},
): BudgetVerdict {
  return checkBudgets(
    {
      doc: server.doc,
      view: server.tracker,
      device: A,
      budgets: { ...BUDGETS, ...budgets },
      deviceClients: 0,
      accountClients: 0,
    },
    update,
    newClients,
  );
}

function assertOver(verdict: BudgetVerdict, reason: string, budget: keyof DocumentBudgets): void {
  assert.equal(verdict.kind, 'over', JSON.stringify(verdict));
  if (verdict.kind !== 'over') return;
  assert.deepEqual([verdict.reason, verdict.budget], [reason, budget], verdict.detail);
}

/** A server whose a-array holds one marker of `t0` at client 100 clock 0, heads for t0..t99. */
function serverWithEntry(): ServerPeer {
  const server = new ServerPeer();
  for (let i = 0; i < 100; i++) server.ingest(`t${i}` as ThreadId, 5);
  const accepted = server.receive(A, forgeUpdate([insertAt(100, 0, { root: ROOT_A }, 't0')]));
  assert.equal(accepted.kind, 'accept', JSON.stringify(accepted));
  return server;
}

/** One block: client `client` inserts the marker 1 of `key` at `where`. */
function insertAt(
  client: number,
  clock: number,
  where: { origin: { client: number; clock: number } } | { root: string },
  key: string,
  val = 1,
): ForgedBlock {
  const content = { any: [{ key, val }] };
  return {
    client,
    clock,
    structs: [
      'origin' in where
        ? { kind: 'item', origin: where.origin, content }
        : { kind: 'item', parent: where.root, content },
    ],
  };
}

/** `count` fresh clients from `first` on, each inserting one marker of its own thread after `origin`. */
function siblings(
  first: number,
  count: number,
  origin: { client: number; clock: number },
  keyOf = (i: number) => `t${i + 1}`,
): Uint8Array {
  return forgeUpdate(Array.from({ length: count }, (_, i) => insertAt(first + i, 0, { origin }, keyOf(i))));
}

/** Applies through the rules (so the tracker follows), asserting acceptance. */
function accept(server: ServerPeer, update: Uint8Array): void {
  const verdict = server.receive(A, update);
  assert.equal(verdict.kind, 'accept', JSON.stringify(verdict));
}

describe('document budgets v2', () => {
  test('[BUDGET-1] client IDs: the update, the device and the account budgets each refuse past their limit', () => {
    const server = serverWithEntry();
    const update = siblings(200, 1, { client: 100, clock: 0 });
    assertOver(check(server, update, 65), 'client_budget', 'newClientsPerUpdate');
    const ctx = { doc: server.doc, view: server.tracker, device: A, budgets: BUDGETS };
    const device = checkBudgets({ ...ctx, deviceClients: 99, accountClients: 99 }, update, 2);
    assertOver(device, 'client_budget', 'clientsPerDevice');
    const account = checkBudgets({ ...ctx, deviceClients: 0, accountClients: 199 }, update, 2);
    assertOver(account, 'client_budget', 'clientsPerAccount');
    assert.equal(checkBudgets({ ...ctx, deviceClients: 98, accountClients: 198 }, update, 2).kind, 'within');
    assert.equal(checkBudgets({ ...ctx, deviceClients: 500, accountClients: 500 }, update, 0).kind, 'within');
  });

  test('[BUDGET-6] inserts at one place: 16 fresh clients after one origin are within, 17 over', () => {
    const server = serverWithEntry();
    const origin = { client: 100, clock: 0 };
    assert.equal(check(server, siblings(200, 16, origin)).kind, 'within');
    assertOver(check(server, siblings(200, 17, origin)), 'concurrent_writes', 'concurrentPerKey');
  });

  test('[BUDGET-6] 64 fresh client IDs each inserting after one origin are refused, also at the start of an array', () => {
    const server = serverWithEntry();
    assertOver(check(server, siblings(200, 64, { client: 100, clock: 0 })), 'concurrent_writes', 'concurrentPerKey');
    const atStart = forgeUpdate(Array.from({ length: 64 }, (_, i) => insertAt(300 + i, 0, { root: ROOT_A }, `t${i}`)));
    assertOver(check(server, atStart), 'concurrent_writes', 'concurrentPerKey');
  });

  test('[BUDGET-6] inserts at one place count with the server items already after that origin', () => {
    const server = serverWithEntry();
    const origin = { client: 100, clock: 0 };
    accept(server, siblings(200, 10, origin));
    assertOver(
      check(
        server,
        siblings(300, 7, origin, (i) => `t${i + 20}`),
      ),
      'concurrent_writes',
      'concurrentPerKey',
    );
    assert.equal(
      check(
        server,
        siblings(300, 6, origin, (i) => `t${i + 20}`),
      ).kind,
      'within',
    );
    // Inserting after the array's last item is no concurrency, whatever came before.
    const last = server.doc.getArray(ROOT_A)._start;
    let end = last;
    while (end?.right) end = end.right;
    assert.ok(end);
    const tail = { client: end.id.client, clock: end.id.clock + end.length - 1 };
    assert.equal(
      check(
        server,
        siblings(400, 16, tail, (i) => `t${i + 40}`),
      ).kind,
      'within',
    );
  });

  test('[BUDGET-6] live entries of one key in one array: 16 are within, 17 over', () => {
    const server = serverWithEntry();
    // Sixteen sessions of a each add an entry of t0 (one is there already) in a chain, not at one place.
    const chain = (first: number, count: number) =>
      forgeUpdate(
        Array.from({ length: count }, (_, i) =>
          insertAt(
            first + i,
            0,
            { origin: i === 0 ? { client: 100, clock: 0 } : { client: first + i - 1, clock: 0 } },
            't0',
            1,
          ),
        ),
      );
    assert.equal(check(server, chain(200, 15)).kind, 'within');
    assertOver(check(server, chain(200, 16)), 'concurrent_writes', 'concurrentPerKey');
  });

  test('[BUDGET-6] inserts that each follow an old origin of a long array are refused (the scan is bounded)', () => {
    const server = new ServerPeer();
    for (let i = 0; i < 100; i++) server.ingest(`t${i}` as ThreadId, 5);
    // A chain of 2,000 items, two sessions of a taking turns, each after the one before:
    // 2,000 structs (a session's items never merge, the other's sit between them).
    const length = 2000;
    const at = (j: number) => ({ client: 100 + (j % 2), clock: Math.floor(j / 2) });
    const blocks = [100, 101].map((client) => ({
      client,
      clock: 0,
      structs: Array.from({ length: length / 2 }, (_, k) => {
        const j = 2 * k + (client - 100);
        const content = { any: [{ key: `t${j % 100}`, val: 1 }] };
        return j === 0
          ? { kind: 'item' as const, parent: ROOT_A, content }
          : { kind: 'item' as const, origin: at(j - 1), content };
      }),
    }));
    accept(server, forgeUpdate(blocks));
    // Each insert follows another of the first items: Yjs scans the rest of the chain for each.
    const inserts = (count: number) =>
      forgeUpdate([
        {
          client: 500,
          clock: 0,
          structs: Array.from({ length: count }, (_, i) => ({
            kind: 'item' as const,
            origin: at(i),
            content: { deleted: 1 },
          })),
        },
      ]);
    const perInsert = length - 1;
    const allowed = Math.floor((16 * SCAN_PER_CONCURRENT_WRITE) / perInsert);
    assert.equal(check(server, inserts(1)).kind, 'within');
    assert.equal(check(server, inserts(allowed - 1)).kind, 'within');
    assertOver(check(server, inserts(allowed + 2)), 'concurrent_writes', 'concurrentPerKey');
  });

  test('[BUDGET-6] siblings at one place followed by long chains of the update are refused; one long chain is not', () => {
    const server = serverWithEntry();
    const origin = { client: 100, clock: 0 };
    // Sixteen clients insert after one origin, each then continues with a chain of its own:
    // Yjs scans every earlier sibling's chain to place each later sibling.
    const chains = (clients: number, length: number) =>
      forgeUpdate(
        Array.from({ length: clients }, (_, c) => ({
          client: 700 + c,
          clock: 0,
          structs: Array.from({ length }, (_, k) => ({
            kind: 'item' as const,
            origin: k === 0 ? origin : { client: 700 + c, clock: k - 1 },
            content: { deleted: 1 },
          })),
        })),
      );
    assertOver(check(server, chains(16, 200)), 'concurrent_writes', 'concurrentPerKey');
    assert.equal(check(server, chains(2, 200)).kind, 'within');
    assert.equal(check(server, chains(1, 20_000)).kind, 'within');
  });

  test('[BUDGET-6] a session that was offline while another session of the device wrote a lot still syncs', () => {
    const server = new ServerPeer();
    for (let i = 0; i < 100; i++) server.ingest(`t${i}` as ThreadId, 5);
    const one = new DeviceReplica(A, 100);
    const two = new DeviceReplica(A, 101);
    one.pull(server);
    two.pull(server);
    one.doc.transact(() => {
      for (let i = 0; i < 100; i++) new KeyValueArray(one.doc, ROOT_A).set(`t${i}`, 3);
    });
    accept(server, one.take() as Uint8Array);
    for (let i = 0; i < 50; i++) two.entries.set(`t${i}`, 2);
    const step2 = two.step2(server);
    assert.equal(server.receive(A, step2).kind, 'accept');
    assert.equal(check(server, step2).kind, 'within');
  });

  test('[BUDGET-7] marker keys: new (thread, device) pairs count against the reads budget; replacing one does not', () => {
    const server = serverWithEntry();
    const origin = { client: 100, clock: 0 };
    // One key held (t0 of a); budget 3 leaves room for two new ones.
    assert.equal(check(server, siblings(200, 2, origin), 0, { readsPerAccount: 3 }).kind, 'within');
    assertOver(check(server, siblings(200, 3, origin), 0, { readsPerAccount: 3 }), 'key_budget', 'readsPerAccount');
    const replace = forgeUpdate([insertAt(100, 1, { origin }, 't0', 3)], [{ client: 100, clock: 0, len: 1 }]);
    assert.equal(check(server, replace, 0, { readsPerAccount: 1 }).kind, 'within');
  });

  test('[BUDGET-7] mute entries: only threads no device has a mute entry of count against the mutes budget', () => {
    const server = serverWithEntry();
    const origin = { client: 100, clock: 0 };
    const mutes = (first: number, threads: string[]) =>
      forgeUpdate([
        {
          client: first,
          clock: 0,
          structs: threads.map((t, i) => ({
            kind: 'item' as const,
            origin: i === 0 ? origin : { client: first, clock: i - 1 },
            content: { any: [{ key: muteKey(t as ThreadId), val: packMuteStamp(1, true) }] },
          })),
        },
      ]);
    accept(server, mutes(200, ['t1', 't2', 't3', 't4', 't5']));
    assertOver(check(server, mutes(300, ['t6'])), 'key_budget', 'mutesPerAccount');
    // Another vote on a thread that has one already adds no thread.
    const b = 'mac-b' as DeviceId;
    const vote = forgeUpdate([
      {
        client: 400,
        clock: 0,
        structs: [
          {
            kind: 'item',
            parent: deviceRoot(b),
            content: { any: [{ key: muteKey('t1' as ThreadId), val: packMuteStamp(2, false) }] },
          },
        ],
      },
    ]);
    const verdict = checkBudgets(
      { doc: server.doc, view: server.tracker, device: b, budgets: BUDGETS, deviceClients: 0, accountClients: 0 },
      vote,
      1,
    );
    assert.equal(verdict.kind, 'within');
  });

  test('[BUDGET-6] what the server already has is not a new write (a re-sent step 2)', () => {
    const server = serverWithEntry();
    const all = siblings(200, 10, { client: 100, clock: 0 });
    accept(server, all);
    assert.equal(check(server, all).kind, 'within');
    assert.equal(check(server, Y.encodeStateAsUpdate(server.doc)).kind, 'within');
  });
});
