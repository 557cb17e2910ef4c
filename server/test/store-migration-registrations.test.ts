/**
 * Schema step 3 (SPEC STORE-12, STORE-14): a database written by the schema of global device
 * records opens with per-(account, device) registrations and a per-token outbox, nothing
 * lost. The old database is built here with the old migration steps, filled the way the old
 * store wrote it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, test } from 'vitest';
import { MIGRATIONS, migrate, SqliteStore, schemaVersion } from '../src/store/index.js';
import { A, B, C, D1, D2, D3 } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PHONE = 'aa'.repeat(32);
const TABLET = 'bb'.repeat(32);

/** A version-2 database: D1 in A and B (one token), D2 in B and signed out of C, D3 signed out of everything. */
function oldDatabase(path: string): void {
  const db = new Database(path);
  try {
    assert.equal(migrate(db, MIGRATIONS.slice(0, 2)), 2);
    const device = db.prepare('INSERT INTO devices VALUES (?, ?, ?, ?, ?, ?, ?)');
    device.run(D1, PHONE, 'sandbox', 'com.example', 1, 500, null);
    device.run(D2, TABLET, 'production', null, 1, 600, null);
    device.run(D3, PHONE, 'production', null, 0, 700, 'Unregistered');
    const member = db.prepare('INSERT INTO memberships VALUES (?, ?)');
    member.run(A, D1);
    member.run(B, D1);
    member.run(B, D2);
    const revoked = db.prepare('INSERT INTO revocations VALUES (?, ?, ?)');
    revoked.run(C, D2, 900);
    revoked.run(A, D3, 950);
    const delivered = db.prepare('INSERT INTO delivered VALUES (?, ?, ?)');
    delivered.run(D1, 4, 800);
    delivered.run(D3, 2, 810); // same token as D1, another value: not kept
    delivered.run(D2, 7, 820);
    const outbox = db.prepare('INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)');
    outbox.run(D1, 5, 1_000, 1_100, 2, 0);
    outbox.run(D3, 6, 990, 1_050, 0, 0);
    outbox.run(D2, 8, 1_000, 1_200, 8, 1);
  } finally {
    db.close();
  }
}

describe('schema step 3: registrations per (account, device)', () => {
  test('[STORE-12][STORE-14] a version-2 database opens with each sign-in as its own registration', () => {
    const path = join(dir, 'v2.db');
    oldDatabase(path);
    const store = new SqliteStore(path);
    try {
      assert.deepEqual(store.devicesOf(A), [D1]);
      assert.deepEqual(store.devicesOf(B), [D1, D2]);
      assert.deepEqual(store.devicesOf(C), []);
      assert.deepEqual(store.getRegistration(A, D1), {
        account: A,
        device: D1,
        address: PHONE,
        webpushKeys: null,
        environment: 'sandbox',
        topic: 'com.example',
        badges: true,
        tokenRegisteredAt: 500,
        tokenInvalidReason: null,
        signedIn: true,
      });
      assert.deepEqual(store.getRegistration(B, D1), { ...store.getRegistration(A, D1), account: B });
      // Sign-outs become signed-out registrations, so their phones can still be cleared.
      assert.deepEqual(
        [store.getRegistration(C, D2)?.signedIn, store.getRegistration(C, D2)?.address],
        [false, TABLET],
      );
      assert.deepEqual(
        [store.getRegistration(A, D3)?.signedIn, store.getRegistration(A, D3)?.tokenInvalidReason],
        [false, 'Unregistered'],
      );
      assert.equal(store.revokedAt(C, D2), 900);
      assert.deepEqual(
        store.registrationsOfToken(PHONE).map((r) => `${r.account}/${r.device}`),
        [`${A}/${D3}`, `${A}/${D1}`, `${B}/${D1}`],
      );
      assert.deepEqual(store.pushableTokens(), [PHONE, TABLET]);

      // Push state moves to the token: one entry per phone, due at the earliest of its devices'.
      assert.equal(store.getDelivered(PHONE), null, 'two devices of one phone disagreed: pushed again');
      assert.equal(store.getDelivered(TABLET), 7);
      assert.deepEqual(store.getPush(PHONE), {
        token: PHONE,
        badge: 6,
        changedAt: 990,
        dueAt: 1_050,
        attempts: 0,
        parked: false,
      });
      assert.equal(store.getPush(TABLET)?.parked, true);
      assert.deepEqual(store.countPushes(), { pending: 1, parked: 1 });
      assert.deepEqual(
        store.duePushes(2_000, 10).map((e) => e.token),
        [PHONE],
      );

      // The converted store works as a new one: a PUT for A touches only A's registration.
      store.putDevice(A, D1, { apnsToken: 'cc'.repeat(32) }, 2_000);
      assert.equal(store.getRegistration(B, D1)?.address, PHONE);
    } finally {
      store.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(schemaVersion(db), MIGRATIONS.length);
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
      assert.ok(!tables.includes('devices') && !tables.includes('memberships'), 'the global device tables are gone');
    } finally {
      db.close();
    }
  });
});
