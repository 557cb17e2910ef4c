/**
 * The store contract for transactions (SPEC STORE-13), run against every Store: a throw
 * inside `transaction(work)` undoes every call made in it, of every kind, and reaches the
 * caller; a nested transaction is a savepoint. Only the embedded stores (SyncStore) have
 * transaction(): the server's Store has none, so this suite stays synchronous.
 */
import assert from 'node:assert/strict';
import { SERVER_DEVICE } from '@badgesync/shared';
import { afterEach, beforeEach, describe, test } from 'vitest';
import type { SyncStore } from '../src/store/index.js';
import { A, B, batch, D1, D2, D3, hex, refusal, withDocuments } from './store-fixtures.js';

const TOKEN = 'ab'.repeat(32);
const OTHER = 'ef'.repeat(32);
const THIRD = 'cd'.repeat(32);

/** Everything a caller can read back, for the accounts and devices these tests touch. */
function view(store: SyncStore): unknown {
  return {
    docs: [A, B].map((account) => {
      const doc = store.loadDoc(account);
      return { ...doc, updates: doc.updates.map(hex) };
    }),
    bindings: [A, B].map((account) => [...store.loadBindings(account)]),
    counts: [A, B].map((account) => store.getCounts(account)),
    idempotent: store.getIdempotent(A, 'k', 0),
    registrations: [A, B].flatMap((account) => [D1, D2, D3].map((device) => store.getRegistration(account, device))),
    members: [A, B].map((account) => store.devicesOf(account)),
    accounts: [A, B].map((account) => store.registrationsOf(account)),
    phones: [TOKEN, OTHER, THIRD].map((token) => store.registrationsOfToken(token)),
    revoked: store.revokedAt(A, D1),
    delivered: [TOKEN, OTHER].map((token) => store.getDelivered(token)),
    outbox: [TOKEN, OTHER].map((token) => store.getPush(token)),
    pushes: store.countPushes(),
    pushable: store.pushableTokens(),
    meta: store.getMeta('m'),
    withDocuments: withDocuments(store, [A, B]),
  };
}

/** One call of every kind that writes. */
function writeEverything(store: SyncStore): void {
  store.commit(
    batch({
      updates: [{ account: B, update: new Uint8Array([9, 9]) }],
      counts: [{ account: A, counts: { badge: 9, threads: { t: 9 }, muted: [] } }],
      bindings: [{ account: A, clientId: 99, device: D2 }],
      idempotency: [{ account: A, key: 'k', response: 'changed', at: 5_000 }],
    }),
  );
  store.putDevice(B, D3, { apnsToken: THIRD, badges: true }, 2_000);
  store.putDevice(A, D1, { badges: false }, 2_000);
  store.signOut(A, D2, 2_000);
  store.invalidateToken(TOKEN, refusal('Unregistered', 2_000));
  store.setDelivered(TOKEN, 9, 2_000);
  store.clearDelivered(OTHER);
  store.enqueuePush({ token: OTHER, badge: 9, changedAt: 2_000, dueAt: 2_000, attempts: 1, parked: false });
  store.removePush(TOKEN, 1);
  store.compact(A, new Uint8Array([7]), Number.MAX_SAFE_INTEGER);
  store.replaceDoc(B, {
    snapshot: new Uint8Array([8]),
    throughLogId: 0,
    bindings: [{ clientId: 98, device: D3 }],
    counts: { badge: 1, threads: { u: 1 }, muted: ['u'] },
  });
  store.setMeta('m', 'changed');
}

/** What every test starts from: a committed batch, two devices, push state, a setting. */
function seed(store: SyncStore): void {
  store.commit(
    batch({
      updates: [{ account: A, update: new Uint8Array([1, 2, 3]) }],
      counts: [{ account: A, counts: { badge: 2, threads: { t: 2 }, muted: [] } }],
      bindings: [{ account: A, clientId: 7, device: D1 }],
      idempotency: [{ account: A, key: 'k', response: '{"head":2}', at: 1_000 }],
    }),
  );
  store.putDevice(A, D1, { apnsToken: TOKEN, badges: true }, 1_000);
  store.putDevice(A, D2, { apnsToken: OTHER }, 1_000);
  store.setDelivered(OTHER, 1, 1_000);
  store.enqueuePush({ token: TOKEN, badge: 1, changedAt: 1_000, dueAt: 1_000, attempts: 0, parked: false });
  store.setMeta('m', 'kept');
}

export function storeTransactionContract(name: string, makeStore: () => SyncStore): void {
  describe(`Store contract, transactions: ${name}`, () => {
    let store: SyncStore;
    beforeEach(() => {
      store = makeStore();
      seed(store);
    });
    afterEach(() => store.close());

    test('[STORE-13] a throw inside a transaction undoes every call made in it and reaches the caller', () => {
      const before = view(store);
      assert.throws(
        () =>
          store.transaction(() => {
            writeEverything(store);
            assert.notDeepEqual(view(store), before, 'the calls take effect inside the transaction');
            throw new Error('boom');
          }),
        /boom/,
      );
      assert.deepEqual(view(store), before);
      // The store still works, and log IDs go on as if the undone entries never were.
      store.commit(batch({ updates: [{ account: A, update: new Uint8Array([4]) }] }));
      assert.equal(store.loadDoc(A).lastLogId, 2);
    });

    test('[STORE-13] a transaction that returns keeps everything, as the same calls outside one', () => {
      store.transaction(() => writeEverything(store));
      const twin = makeStore();
      try {
        seed(twin);
        writeEverything(twin);
        assert.deepEqual(view(store), view(twin));
      } finally {
        twin.close();
      }
      assert.equal(store.getMeta('m'), 'changed');
    });

    test('[STORE-16] [STORE-13] inside a transaction that throws, the replacement is undone with the rest', () => {
      const before = store.loadDoc(A).updates.map(hex);
      assert.throws(() =>
        store.transaction(() => {
          store.replaceDoc(A, {
            snapshot: new Uint8Array([0xaa, 0xbb]),
            throughLogId: store.loadDoc(A).lastLogId,
            bindings: [{ clientId: 500, device: SERVER_DEVICE }],
            counts: { badge: 4, threads: { inbox: 4 }, muted: [] },
          });
          throw new Error('later work failed');
        }),
      );
      assert.deepEqual(store.loadDoc(A).updates.map(hex), before);
      assert.equal(store.loadBindings(A).has(500), false);
    });

    test('[STORE-13] a nested transaction is a savepoint: its throw undoes its own calls only', () => {
      store.transaction(() => {
        store.setMeta('m', 'outer');
        assert.throws(
          () =>
            store.transaction(() => {
              store.setMeta('m', 'inner');
              store.commit(batch({ updates: [{ account: B, update: new Uint8Array([5]) }] }));
              throw new Error('inner');
            }),
          /inner/,
        );
        assert.equal(store.getMeta('m'), 'outer');
      });
      assert.equal(store.getMeta('m'), 'outer');
      assert.equal(store.loadDoc(B).logCount, 0);
    });
  });
}
