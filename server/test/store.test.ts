/**
 * Runs the store contract suites against the embedded stores: as the server uses them (through
 * asyncStore, every call awaited) and, for transactions, as SyncStores. The PostgreSQL store runs
 * the same suites in pg-store-contract.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { asyncStore, MemoryStore, SqliteStore } from '../src/store/index.js';
import { storeContract } from './store-contract.js';
import { storeReplaceContract } from './store-contract-replace.js';
import { storeTransactionContract } from './store-contract-transaction.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
storeContract('MemoryStore', () => asyncStore(new MemoryStore()));
storeContract('SqliteStore', () => asyncStore(new SqliteStore(join(dir, `contract-${++files}.db`))));
storeTransactionContract('MemoryStore', () => new MemoryStore());
storeTransactionContract('SqliteStore', () => new SqliteStore(join(dir, `transaction-${++files}.db`)));
// [PUSH-23] The server's SqliteStore answers registration reads from memory: it must read as the
// reference after every write, a transaction undone included.
const cached = { cacheRegistrations: true } as const;
storeContract('SqliteStore, registrations cached', () =>
  asyncStore(new SqliteStore(join(dir, `cached-${++files}.db`), cached)),
);
storeTransactionContract(
  'SqliteStore, registrations cached',
  () => new SqliteStore(join(dir, `cached-transaction-${++files}.db`), cached),
);
storeReplaceContract('MemoryStore', () => asyncStore(new MemoryStore()));
storeReplaceContract('SqliteStore', () => asyncStore(new SqliteStore(join(dir, `replace-${++files}.db`))));
