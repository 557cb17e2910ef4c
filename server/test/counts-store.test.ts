/**
 * Counts stored per thread (SPEC STORE-15): a change writes the threads it touched, not the
 * whole account; both stores agree; migration 3 moves counts stored as JSON rows over.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, test } from 'vitest';
import { MemoryStore, MIGRATIONS, migrate, SqliteStore, type SyncStore } from '../src/store/index.js';
import { A, B, batch } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-counts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(dir, `db-${++files}.db`);

const STORES: Array<[string, () => SyncStore]> = [
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore(freshPath())],
];

for (const [name, make] of STORES) {
  describe(`${name}: counts by thread`, () => {
    test('[STORE-15] a change of some threads keeps every other stored thread and mute', () => {
      const store = make();
      store.commit(
        batch({
          counts: [{ account: A, counts: { badge: 6, threads: { a: 1, b: 2, c: 3, m: 9 }, muted: ['m', 'x'] } }],
        }),
      );
      // b read, c muted, x unmuted, a new thread n, m lost its head but stays muted.
      store.commit(
        batch({
          counts: [
            {
              account: A,
              counts: { badge: 2, threads: { b: 0, n: 1 }, muted: ['c', 'm'] },
              changed: ['b', 'c', 'x', 'n', 'm'],
            },
          ],
        }),
      );
      assert.deepEqual(store.getCounts(A), { badge: 2, threads: { a: 1, b: 0, n: 1 }, muted: ['c', 'm'] });
      assert.deepEqual(
        store.getBadges([A, B]),
        new Map([
          [A, 2],
          [B, 0],
        ]),
      );
      store.close();
    });

    test('[STORE-15] a change for an account never counted stores just those threads', () => {
      const store = make();
      store.commit(
        batch({ counts: [{ account: B, counts: { badge: 1, threads: { t: 1 }, muted: [] }, changed: ['t'] }] }),
      );
      assert.deepEqual(store.getCounts(B), { badge: 1, threads: { t: 1 }, muted: [] });
      store.close();
    });

    test('[STORE-15] a full write after changes replaces everything', () => {
      const store = make();
      store.commit(
        batch({ counts: [{ account: A, counts: { badge: 1, threads: { a: 1 }, muted: ['q'] }, changed: ['a', 'q'] }] }),
      );
      store.commit(batch({ counts: [{ account: A, counts: { badge: 0, threads: { z: 0 }, muted: [] } }] }));
      assert.deepEqual(store.getCounts(A), { badge: 0, threads: { z: 0 }, muted: [] });
      store.close();
    });
  });
}

describe('migration 4: counts by thread', () => {
  test('[STORE-15][STORE-12] counts stored as JSON rows by version 3 are moved over whole', () => {
    const path = freshPath();
    const db = new Database(path);
    migrate(db, MIGRATIONS.slice(0, 3));
    db.prepare('INSERT INTO counts (account, badge, threads, muted, updated_at) VALUES (?, ?, ?, ?, ?)').run(
      A,
      5,
      '{"__proto__": 2, "inbox": 3, "news": 7}',
      JSON.stringify(['news', 'quiet']),
      1,
    );
    db.close();
    const store = new SqliteStore(path);
    const counts = store.getCounts(A);
    assert.equal(counts?.badge, 5);
    assert.deepEqual(Object.entries(counts?.threads ?? {}), [
      ['__proto__', 2],
      ['inbox', 3],
      ['news', 7],
    ]);
    assert.deepEqual(counts?.muted, ['news', 'quiet']);
    store.close();
  });
});
