/**
 * The document budgets' check (shared/src/update-budget.ts) on hand-made server documents:
 * what counts as a new client ID, a concurrent write of one key, and a new key. The
 * end-to-end proofs are in test/e2e/document-budgets.test.ts (SPEC BUDGET-1..BUDGET-5).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { accountMaps, type BudgetVerdict, checkBudgets, type DocumentBudgets } from '../src/index.js';
import { forgeUpdate } from './helpers/forge.js';

const BUDGETS: DocumentBudgets = {
  newClientsPerUpdate: 64,
  clientsPerDevice: 100,
  clientsPerAccount: 200,
  concurrentPerKey: 8,
  mutesPerAccount: 5,
  readsPerAccount: 5,
};

function check(doc: Y.Doc, update: Uint8Array, newClients = 0, budgets: Partial<DocumentBudgets> = {}): BudgetVerdict {
  return checkBudgets(
    { doc, budgets: { ...BUDGETS, ...budgets }, deviceClients: 0, accountClients: 0 },
    update,
    newClients,
  );
}

/** Writes of `mutes[key]` by fresh clients, each following `origin` (or nothing). */
function siblings(first: number, count: number, key: string, origin?: { client: number; clock: number }): Uint8Array {
  return forgeUpdate(
    Array.from({ length: count }, (_, i) => ({
      client: first + i,
      clock: 0,
      structs: [
        origin === undefined
          ? { kind: 'item' as const, parent: 'mutes', key, content: { any: [true] } }
          : { kind: 'item' as const, origin, content: { any: [false] } },
      ],
    })),
  );
}

function serverWith(...updates: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc();
  for (const update of updates) Y.applyUpdate(doc, update);
  return doc;
}

describe('document budgets', () => {
  test('client IDs: the update, the device and the account budgets each refuse past their limit', () => {
    const doc = new Y.Doc();
    const update = siblings(10, 1, 'k');
    assert.equal(check(doc, update, 65).kind, 'over');
    const device = checkBudgets({ doc, budgets: BUDGETS, deviceClients: 99, accountClients: 99 }, update, 2);
    assert.deepEqual(device.kind === 'over' && [device.reason, device.budget], ['client_budget', 'clientsPerDevice']);
    const account = checkBudgets({ doc, budgets: BUDGETS, deviceClients: 0, accountClients: 199 }, update, 2);
    assert.deepEqual(account.kind === 'over' && account.budget, 'clientsPerAccount');
    // At the budgets exactly: within; and an update binding nothing is never over.
    assert.equal(
      checkBudgets({ doc, budgets: BUDGETS, deviceClients: 98, accountClients: 198 }, update, 2).kind,
      'within',
    );
    assert.equal(
      checkBudgets({ doc, budgets: BUDGETS, deviceClients: 500, accountClients: 500 }, update, 0).kind,
      'within',
    );
  });

  test('concurrency: writes that follow the same server entry count with those the server holds', () => {
    const first = siblings(100, 1, 'k');
    const doc = serverWith(first);
    const origin = { client: 100, clock: 0 };
    // Three devices overwrote k while apart: three writes following one entry, fine.
    assert.equal(check(doc, siblings(200, 3, 'k', origin)).kind, 'within');
    Y.applyUpdate(doc, siblings(200, 5, 'k', origin));
    // Five on the server follow that entry; four more make nine.
    const over = check(doc, siblings(300, 4, 'k', origin));
    assert.deepEqual(over.kind === 'over' && [over.reason, over.budget], ['concurrent_writes', 'concurrentPerKey']);
    assert.equal(check(doc, siblings(300, 3, 'k', origin)).kind, 'within');
    // A write following the current value is no concurrency, whatever came before.
    const current = accountMaps(doc).mutes._map.get('k');
    assert.ok(current);
    assert.equal(
      check(doc, siblings(400, 1, 'k', { client: current.id.client, clock: current.id.clock })).kind,
      'within',
    );
  });

  test('concurrency: first writes of one key (no previous value) count with the server’s, other keys apart', () => {
    const doc = serverWith(siblings(100, 6, 'k'));
    assert.equal(check(doc, siblings(200, 2, 'k')).kind, 'within');
    assert.equal(check(doc, siblings(200, 3, 'k')).kind, 'over');
    assert.equal(check(doc, siblings(200, 8, 'other')).kind, 'within');
    assert.equal(check(new Y.Doc(), siblings(200, 9, 'other')).kind, 'over');
  });

  test('keys: only keys the server does not have count against the mutes budget', () => {
    const doc = new Y.Doc();
    doc.clientID = 7;
    for (let i = 0; i < 5; i++) accountMaps(doc).mutes.set(`m${i}`, true);
    const replica = new Y.Doc();
    Y.applyUpdate(replica, Y.encodeStateAsUpdate(doc));
    replica.clientID = 8;
    const updates: Uint8Array[] = [];
    replica.on('update', (u: Uint8Array) => updates.push(u));
    accountMaps(replica).mutes.set('m0', false);
    accountMaps(replica).mutes.set('m5', true);
    assert.equal(check(doc, updates[0] as Uint8Array).kind, 'within', 'an overwrite');
    const over = check(doc, updates[1] as Uint8Array);
    assert.deepEqual(over.kind === 'over' && [over.reason, over.budget], ['key_budget', 'mutesPerAccount']);
  });

  test('what the server already has is not a new write (a re-sent step 2)', () => {
    const all = siblings(100, 8, 'k');
    const doc = serverWith(all);
    assert.equal(check(doc, all).kind, 'within');
  });
});

describe('document budgets: stale writes', () => {
  test('one write following an entry the key has moved 8 entries past is concurrent with all of them', () => {
    // Entry 100:0, then writers 101, 102, … each following the one before (devices in turn).
    const doc = serverWith(siblings(100, 1, 'k'));
    const origin = { client: 100, clock: 0 };
    const follow = (n: number) => Y.applyUpdate(doc, siblings(100 + n, 1, 'k', { client: 100 + n - 1, clock: 0 }));
    for (let n = 1; n <= 6; n++) follow(n);
    assert.equal(check(doc, siblings(200, 1, 'k', origin)).kind, 'within', '6 after it: 7 in all');
    follow(7);
    assert.equal(check(doc, siblings(200, 1, 'k', origin)).kind, 'within', '7 after it: 8 in all');
    follow(8);
    const over = check(doc, siblings(200, 1, 'k', origin));
    assert.deepEqual(over.kind === 'over' && over.reason, 'concurrent_writes', '8 after it: 9 in all');
    // Following the newest entry is fine.
    assert.equal(check(doc, siblings(200, 1, 'k', { client: 108, clock: 0 })).kind, 'within');
  });
});
