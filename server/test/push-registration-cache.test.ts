/**
 * [PUSH-23] The server's SQLite store answers the registration reads of push from memory: what a
 * user does to a registration (registers a device, moves it to a new token, signs out) and what
 * a push service answers (a refused token) must show in the very next push decision all the
 * same. A PushScheduler over a real SQLite file opened as the server opens it, with mocked
 * timers; the writes go to the store directly, so each test fails if the store answered what it
 * held before them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, test, vi } from 'vitest';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { A, B, GRACE, Harness, MAC, NEW_TOKEN, PHONE, T0, TOKEN, WINDOW } from './push-scheduler-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-push-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

describe('PushScheduler over the SQLite store with registrations in memory', () => {
  let h: Harness;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    // Batches written on the event loop's connection: the mocked clock steps them in order.
    const store = new SqliteStore(join(dir, `cache-${++files}.db`), { cacheRegistrations: true, commitThread: false });
    h = new Harness(undefined, store);
  });
  afterEach(async () => {
    await h.scheduler.close();
    h.store.close();
    vi.useRealTimers();
  });

  test('[PUSH-23] a device registered after its account was read is pushed at the next change', async () => {
    h.register(A, PHONE);
    h.change(A, 1);
    await h.advance(WINDOW);
    assert.deepEqual(
      h.sender.pushes.map((push) => [push.apnsToken, push.badge]),
      [[TOKEN, 1]],
    );
    // The account's devices are in memory now; a second device registers (the store only).
    h.store.putDevice(A, MAC, { apnsToken: NEW_TOKEN }, Date.now());
    h.change(A, 2);
    await h.advance(WINDOW);
    assert.deepEqual(
      h.sender.pushes
        .slice(1)
        .map((push) => [push.apnsToken, push.badge])
        .sort(),
      [
        [TOKEN, 2],
        [NEW_TOKEN, 2],
      ],
    );
  });

  test('[PUSH-23] a device signed out gets no push for the account’s next change, only its badge cleared', async () => {
    h.register(A, PHONE);
    h.change(A, 4);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [4]);
    h.store.signOut(A, PHONE, Date.now());
    h.scheduler.deviceSignedOut(A, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [4, 0], 'the sign-out clears the phone’s badge');
    h.change(A, 7);
    await h.advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), [4, 0], 'no push after the sign-out');
  });

  test('[PUSH-23] a sign-out the push decision has not heard of leaves the account out of the badge', async () => {
    h.register(A, PHONE);
    h.register(B, PHONE);
    h.change(A, 2);
    h.change(B, 3);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5]);
    // B's change queues the phone; A signs out before the push is decided.
    h.change(B, 4);
    h.store.signOut(A, PHONE, Date.now());
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5, 4], 'the push carries B alone');
  });

  test('[PUSH-23] a device that moved to a new token is pushed there, and its old token no more', async () => {
    h.register(A, PHONE);
    h.change(A, 1);
    await h.advance(WINDOW);
    h.store.putDevice(A, PHONE, { apnsToken: NEW_TOKEN }, Date.now());
    h.change(A, 2);
    await h.advance(WINDOW);
    assert.deepEqual(
      h.sender.pushes.map((push) => [push.apnsToken, push.badge]),
      [
        [TOKEN, 1],
        [NEW_TOKEN, 2],
      ],
    );
  });

  test('[PUSH-23] a token the push service refused is not pushed again at the next change', async () => {
    h.register(A, PHONE);
    h.register(B, MAC, NEW_TOKEN);
    await h.advance(WINDOW);
    h.sender.answer({ kind: 'invalid-token', reason: 'Unregistered', timestamp: Date.now() });
    h.change(A, 3);
    await h.advance(WINDOW);
    assert.equal(h.sender.pushes.length, 3, 'the refused push went out');
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, 'Unregistered');
    h.change(A, 5);
    h.change(B, 6);
    await h.advance(GRACE);
    assert.deepEqual(
      h.sender.pushes.slice(3).map((push) => [push.apnsToken, push.badge]),
      [[NEW_TOKEN, 6]],
      'only the phone still valid',
    );
  });
});
