/**
 * The store contract suites (memory is the reference) against the PostgreSQL store: one fresh
 * database for this file's run, its tables emptied before each test, dropped at the end.
 * The transaction suite is not run: transaction() belongs to the embedded stores only.
 */
import { afterAll, beforeAll } from 'vitest';
import { PgStore } from '../src/store/index.js';
import { createTestDatabase, emptyTables, type TestDatabase } from './pg-database.js';
import { storeContract } from './store-contract.js';
import { storeReplaceContract } from './store-contract-replace.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
  // Migrated once here, so each test's store finds the schema in place.
  await (await PgStore.open({ url: db.url })).close();
});
afterAll(async () => {
  await db?.drop();
});

/** A store on the emptied database: each test starts from nothing, as with a new file. */
async function freshStore(): Promise<PgStore> {
  await emptyTables(db.url);
  return PgStore.open({ url: db.url, max: 4 });
}

storeContract('PgStore', freshStore);
storeReplaceContract('PgStore', freshStore);
