/**
 * [OPS-9] `serve` starts the commit thread before the server's modules load: the thread it
 * starts is the one the store then writes through. Real SQLite file, real worker thread.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, test } from 'vitest';
import { startCommitThreadEarly } from '../src/early-start.js';
import { CommitThread } from '../src/store/commit-thread.js';
import { SqliteStore } from '../src/store/index.js';
import { A, batch } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-early-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 }));

describe('start-up: the commit thread boots first', () => {
  test('[OPS-9] on PostgreSQL or an in-memory database no commit thread is started', () => {
    assert.equal(
      startCommitThreadEarly({ databaseUrl: 'postgres://badgesync@localhost/x', db: join(dir, 'a.db') }),
      false,
    );
    assert.equal(startCommitThreadEarly({ databaseUrl: null, db: ':memory:' }), false);
  });

  test('[OPS-9] on a SQLite file the thread started before the store opens is the one its batches go through', async () => {
    const file = join(dir, 'early.db');
    assert.equal(startCommitThreadEarly({ databaseUrl: null, db: file }), true);
    const started = CommitThread.shared();
    const before = started.nextId;
    const store = new SqliteStore(file);
    try {
      await store.startCommitThread();
      const written = store.commitAsync(batch({ updates: [{ account: A, update: new Uint8Array([0, 0]) }] }));
      assert.ok(written !== null, 'the batch went to the commit thread');
      await written;
      assert.equal(CommitThread.shared(), started, 'no second thread');
      assert.ok(started.nextId >= before + 2, "the store's ready check and its batch went through the early thread");
      // On disk, read through a connection of the test's own.
      const db = new Database(file, { readonly: true });
      try {
        const row = db.prepare('SELECT COUNT(*) AS n FROM updates WHERE account = ?').get(A) as { n: number };
        assert.equal(row.n, 1);
      } finally {
        db.close();
      }
    } finally {
      store.close();
    }
  });
});
