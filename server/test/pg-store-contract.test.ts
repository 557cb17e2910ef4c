/**
 * The store contract suites (memory is the reference) against the PostgreSQL store: one fresh
 * database for this file's run, its tables emptied before each test, dropped at the end.
 * The transaction suite is not run: transaction() belongs to the embedded stores only.
 */
import assert from 'node:assert/strict';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { checkBatch } from '../src/store/checks.js';
import { PgStore, type Store, type WriteBatch } from '../src/store/index.js';
import { connect, createTestDatabase, emptyTables, type TestDatabase } from './pg-database.js';
import { storeContract } from './store-contract.js';
import { storeReplaceContract } from './store-contract-replace.js';

let db: TestDatabase;
/** This file's own connection to the database, to empty it between tests. */
let own: pg.Client;
/** Commits the not-awaiting run handed over: each must have been written in the end. */
const handedOver: Promise<void>[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  // Migrated once here, so each test's store finds the schema in place.
  await (await PgStore.open({ url: db.url })).close();
  own = await connect(db.url);
});
afterAll(async () => {
  const failed = (await Promise.allSettled(handedOver)).filter((result) => result.status === 'rejected');
  await own?.end();
  await db?.drop();
  assert.deepEqual(failed, [], 'every commit handed over was written');
});

/** A store on the emptied database: each test starts from nothing, as with a new file. */
async function freshStore(): Promise<PgStore> {
  await emptyTables(own);
  return PgStore.open({ url: db.url, max: 2 });
}

function isEmpty(batch: WriteBatch): boolean {
  return batch.updates.length + batch.counts.length + batch.bindings.length + batch.idempotency.length === 0;
}

/**
 * [STORE-18] [STORE-23] The store with commit() answering at once, before the write: the reads
 * the suite makes next must see the batch all the same (they wait for it). A batch the store
 * refuses on the caller's turn (its checks; a closed store) still rejects.
 */
async function handingOver(): Promise<Store> {
  const store = await freshStore();
  return new Proxy(store, {
    get(target, key) {
      if (key === 'commit') {
        return (batch: WriteBatch, holdMs?: number): Promise<void> => {
          const written = target.commit(batch, holdMs);
          try {
            checkBatch(batch);
          } catch {
            return written;
          }
          if (isEmpty(batch)) return written;
          handedOver.push(written);
          return Promise.resolve();
        };
      }
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

storeContract('PgStore', freshStore);
storeReplaceContract('PgStore', freshStore);
storeContract('PgStore, commits not awaited', handingOver);
