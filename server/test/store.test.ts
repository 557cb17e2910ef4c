/** Runs the store contract suite against every Store implementation. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { MemoryStore, SqliteStore } from '../src/store/index.js';
import { storeContract } from './store-contract.js';
import { storeReplaceContract } from './store-contract-replace.js';
import { storeTransactionContract } from './store-contract-transaction.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
storeContract('MemoryStore', () => new MemoryStore());
storeContract('SqliteStore', () => new SqliteStore(join(dir, `contract-${++files}.db`)));
storeTransactionContract('MemoryStore', () => new MemoryStore());
storeTransactionContract('SqliteStore', () => new SqliteStore(join(dir, `transaction-${++files}.db`)));
storeReplaceContract('MemoryStore', () => new MemoryStore());
storeReplaceContract('SqliteStore', () => new SqliteStore(join(dir, `replace-${++files}.db`)));
