/**
 * Schema step 5 (SPEC STORE-12, STORE-19): a database of step 4 opens with its APNs
 * registrations, outbox entries and delivered badges as they were (an APNs token is its own
 * push address), and takes FCM and Web Push registrations afterwards.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, test } from 'vitest';
import { MIGRATIONS, migrate, SqliteStore, schemaVersion } from '../src/store/index.js';
import { A, B, D1, D2 } from './store-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-migrate5-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PHONE = 'aa'.repeat(32);

test('[STORE-19] step 5 keeps APNs registrations, outbox and delivered badges; FCM and Web Push register after it', () => {
  const path = join(dir, 'v4.db');
  const db = new Database(path);
  try {
    assert.equal(migrate(db, MIGRATIONS.slice(0, 4)), 4);
    db.prepare('INSERT INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
      A,
      D1,
      PHONE,
      'sandbox',
      'com.example',
      1,
      500,
      null,
      1,
    );
    db.prepare('INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?)').run(PHONE, 5, 1_000, 1_100, 2, 0);
    db.prepare('INSERT INTO delivered VALUES (?, ?, ?)').run(PHONE, 4, 800);
  } finally {
    db.close();
  }
  const store = new SqliteStore(path);
  try {
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
    assert.deepEqual(store.registrationsOfToken(PHONE).length, 1);
    assert.deepEqual(store.getPush(PHONE), {
      token: PHONE,
      badge: 5,
      changedAt: 1_000,
      dueAt: 1_100,
      attempts: 2,
      parked: false,
    });
    assert.equal(store.getDelivered(PHONE), 4);
    const keys = { p256dh: 'B'.repeat(87), auth: 'c'.repeat(22) };
    store.putDevice(B, D2, { webpush: { endpoint: 'https://push.example.net/1', keys } }, 900);
    assert.deepEqual(store.getRegistration(B, D2)?.webpushKeys, keys);
  } finally {
    store.close();
  }
  const check = new Database(path, { readonly: true });
  try {
    assert.equal(schemaVersion(check), 5);
  } finally {
    check.close();
  }
});
