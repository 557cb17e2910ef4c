/**
 * The store reads a stream of changes costs push (SPEC PUSH-25, STORE-44): the outbox is counted
 * for the depth gauges only when they are scraped, and an account's registrations are one read
 * per counts change. The scheduler runs on a real SQLite file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { afterAll, afterEach, beforeEach, describe, test, vi } from 'vitest';
import { OUTBOX_COUNT_WAIT_MS } from '../src/push/push-metrics.js';
import type { PushStore } from '../src/push/push-scheduler.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { Store } from '../src/store/store.js';
import { A, counter, Harness, PHONE, T0, WINDOW } from './push-scheduler-harness.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-push-reads-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** Phones, each of its own account, so every change queues an outbox entry of its own. */
const PHONES = 20;
/** Changes in the stream, spread over the phones' accounts. */
const CHANGES = 60;
/** Time between two changes of the stream. */
const STEP = WINDOW / PHONES;
const account = (i: number) => parseAccountId(`account-${i % PHONES}`);
const token = (i: number) => (i % PHONES).toString(16).padStart(2, '0').repeat(32);

/** How long the slow store's outbox count takes: longer than a scrape waits for it. */
const SLOW_COUNT_MS = 5 * OUTBOX_COUNT_WAIT_MS;

/** Counts the calls the scheduler makes of each store method named in `counted`. */
function counting(calls: Map<string, number>): (store: Store) => PushStore {
  return (store) =>
    new Proxy(store, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          calls.set(String(property), (calls.get(String(property)) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
}

describe('PushScheduler: store reads under a stream of changes', () => {
  let h: Harness;
  let sqlite: SqliteStore;
  const calls = new Map<string, number>();
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    calls.clear();
    // The server's own form of the store: its registrations cached (PUSH-23), commits on this connection.
    sqlite = new SqliteStore(join(dir, `reads-${++files}.db`), { commitThread: false, cacheRegistrations: true });
    h = new Harness(counting(calls), sqlite);
  });
  afterEach(async () => {
    await h.scheduler.close();
    sqlite.close();
    vi.useRealTimers();
  });

  test('[PUSH-25] a stream of changes counts the outbox never; a scrape counts it once and shows what it holds', async () => {
    for (let i = 0; i < PHONES; i++) h.register(account(i), PHONE, token(i));
    // A parked entry no registration carries: the scheduler never touches it.
    sqlite.enqueuePush({ token: 'ff'.repeat(32), badge: 3, changedAt: T0, dueAt: T0, attempts: 5, parked: true });
    await h.settle();
    // A change every STEP ms: each phone's account changes once a window, so the stream queues,
    // sends and queues again, and every outbox write wakes the scheduler.
    for (let i = 0; i < CHANGES; i++) {
      h.change(account(i), i + 1);
      await h.advance(STEP);
    }
    assert.ok(h.sender.pushes.length >= PHONES, 'pushes went out meanwhile');
    assert.ok(h.reads >= CHANGES, `the wakes read the outbox (${h.reads} reads)`);
    assert.equal(calls.get('countPushes') ?? 0, 0, 'no wake counted the outbox');

    const truth = sqlite.countPushes();
    assert.ok(truth.pending > 0, 'entries still wait');
    assert.equal(truth.parked, 1);
    // Both gauges at once, as a scrape of the registry reads them: one count.
    assert.deepEqual(await Promise.all([counter(h.metrics.depth), counter(h.metrics.parkedDepth)]), [truth.pending, 1]);
    assert.equal(calls.get('countPushes'), 1);

    await h.advance(2 * WINDOW);
    assert.deepEqual(sqlite.countPushes(), { pending: 0, parked: 1 });
    assert.equal(calls.get('countPushes'), 1, 'sending counted nothing either');
    assert.equal(await counter(h.metrics.depth), 0, 'the next scrape shows the outbox drained');
    assert.equal(await counter(h.metrics.parkedDepth), 1);
    assert.equal(calls.get('countPushes'), 3);

    await h.scheduler.close();
    assert.equal(await counter(h.metrics.depth), 0, 'closed: the gauge keeps its value');
    assert.equal(calls.get('countPushes'), 3, 'closed: the store is not counted');
  });

  test('[PUSH-25] a scrape waits for a slow outbox count at most OUTBOX_COUNT_WAIT_MS, and the count lands for the next one', async () => {
    const slow = new Harness(
      (store) =>
        new Proxy(store, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property);
            if (property !== 'countPushes' || typeof value !== 'function') return value;
            return () => {
              calls.set('slowCount', (calls.get('slowCount') ?? 0) + 1);
              return new Promise((resolve) => setTimeout(() => resolve(value.apply(target, [])), SLOW_COUNT_MS));
            };
          },
        }),
      sqlite,
    );
    try {
      for (const t of ['f1', 'f2']) {
        sqlite.enqueuePush({ token: t.repeat(32), badge: 3, changedAt: T0, dueAt: T0, attempts: 5, parked: true });
      }
      let answered: number | null = null;
      const first = counter(slow.metrics.parkedDepth).then((value) => {
        answered = value;
      });
      await slow.advance(OUTBOX_COUNT_WAIT_MS - 20);
      assert.equal(answered, null, 'the scrape waits for the count a while');
      await slow.advance(40);
      assert.equal(answered, 0, 'then answers with what the gauge holds, the count still running');
      await first;
      // A second scrape while the count is in flight starts none of its own.
      const during = counter(slow.metrics.parkedDepth);
      await slow.advance(SLOW_COUNT_MS);
      assert.equal(await during, 0, 'it too answers before the count lands');
      assert.equal(calls.get('slowCount'), 1, 'one count in flight at a time');
      const second = counter(slow.metrics.parkedDepth);
      await slow.advance(OUTBOX_COUNT_WAIT_MS + 20);
      assert.equal(await second, 2, 'the late count is on the gauge');
    } finally {
      await slow.advance(SLOW_COUNT_MS);
      await slow.scheduler.close();
    }
  });

  test('[STORE-44][PUSH-1] a counts change reads its account’s registrations once, whatever the number of devices', async () => {
    const devices = Array.from({ length: 8 }, (_, i) => parseDeviceId(`device-${i}`));
    for (const [i, device] of devices.entries()) h.register(A, device, token(i));
    await h.settle();
    calls.clear();
    h.change(A, 4);
    await h.settle();
    assert.equal(calls.get('registrationsOf'), 1);
    assert.equal((calls.get('getRegistration') ?? 0) + (calls.get('devicesOf') ?? 0), 0);
    await h.advance(WINDOW);
    assert.deepEqual(
      h.sender.pushes.map((push) => [push.apnsToken, push.badge]).sort(),
      devices.map((_, i) => [token(i), 4]).sort(),
      'every device of the account is pushed',
    );
  });
});
