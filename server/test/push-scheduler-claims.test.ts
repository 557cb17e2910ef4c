/**
 * A cluster node's push scheduler takes due entries by claiming them (SPEC CLUSTER-19): an
 * entry another node claimed — a node killed mid-send keeps its claim until the lease ends —
 * must not hold back a new badge (CLUSTER-44). Real timers: the window is long, nothing is sent.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, test } from 'vitest';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler } from '../src/push/push-scheduler.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { A, B, MAC, NEW_TOKEN, PHONE, ScriptedSender, TOKEN } from './push-scheduler-harness.js';

/** Long enough that no entry comes due while the test runs: only the queueing is under test. */
const WINDOW_MS = 600_000;

const open: PushScheduler[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((scheduler) => scheduler.close()));
});

function world(clustered: boolean) {
  const store = new MemoryStore();
  store.putDevice(A, PHONE, { apnsToken: TOKEN }, Date.now());
  const scheduler = new PushScheduler(
    { offlineGraceMs: 5_000, pushDelayMs: WINDOW_MS, defaultTopic: 'com.example.app' },
    {
      store: asyncStore(store),
      sender: new ScriptedSender(),
      log: pino({ level: 'silent' }),
      metrics: new PushMetrics(new Registry()),
      isOnline: () => false,
      // Every due entry is held by another node: this one never claims any.
      ...(clustered ? { takeDue: async () => [] } : {}),
    },
  );
  open.push(scheduler);
  const change = (badge: number): void => {
    const counts = { badge, threads: { t: badge }, muted: [] };
    store.commit({ updates: [], counts: [{ account: A, counts }], bindings: [], idempotency: [] });
    scheduler.countsCommitted(A, counts);
  };
  return { store, scheduler, change };
}

async function until(check: () => boolean, what: string): Promise<void> {
  // Generous: the scheduler's store calls settle within a few turns; a loaded machine is slow.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('PushScheduler on a cluster node', () => {
  test('[CLUSTER-44] a new badge replaces the waiting entry (same due time), which clears another node’s claim on it', async () => {
    const { store, change } = world(true);
    change(1);
    await until(() => store.getPush(TOKEN)?.badge === 1, 'the first badge queued');
    const first = store.getPush(TOKEN);
    change(4);
    await until(() => store.getPush(TOKEN)?.badge === 4, 'the entry carries the new badge');
    assert.equal(store.getPush(TOKEN)?.dueAt, first?.dueAt, 'the window is not pushed back');
    assert.equal(store.getPush(TOKEN)?.changedAt, first?.changedAt);
  });

  test('[OPS-8] a change heard just before close() is still queued: close waits for it and writes the entry', async () => {
    const { store, scheduler, change } = world(false);
    change(3);
    // The shutdown closes push right after the last flush told it of the change.
    await scheduler.close();
    assert.equal(store.getPush(TOKEN)?.badge, 3, 'the phone is in the outbox for the next start (or the hand-over)');
  });

  test('[PUSH-5] on one node the waiting entry is left as it is: its badge is read when it is sent', async () => {
    const { store, change } = world(false);
    change(1);
    await until(() => store.getPush(TOKEN)?.badge === 1, 'the first badge queued');
    change(4);
    // Let the second change's lane run to its end.
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(store.getPush(TOKEN)?.badge, 1);
  });

  test('[CLUSTER-50] the accounts that queued an entry another node sent do not count for the next entry', async () => {
    const store = new MemoryStore();
    store.putDevice(A, PHONE, { apnsToken: TOKEN }, Date.now());
    store.putDevice(B, PHONE, { apnsToken: TOKEN }, Date.now());
    const online = new Set<string>();
    // Until released, every due entry is held by another node.
    let held = true;
    const sender = new ScriptedSender();
    const scheduler = new PushScheduler(
      { offlineGraceMs: 5_000, pushDelayMs: 50, defaultTopic: 'com.example.app' },
      {
        store: asyncStore(store),
        sender,
        log: pino({ level: 'silent' }),
        metrics: new PushMetrics(new Registry()),
        isOnline: (account, device) => online.has(`${account}/${device}`),
        takeDue: async (now, limit) => (held ? [] : store.duePushes(now, limit)),
      },
    );
    open.push(scheduler);
    const change = (account: typeof A, badge: number): void => {
      const counts = { badge, threads: { t: badge }, muted: [] };
      store.commit({ updates: [], counts: [{ account, counts }], bindings: [], idempotency: [] });
      scheduler.countsCommitted(account, counts);
    };
    change(A, 2);
    change(B, 3);
    // The phone signs out of A here: this node queues it, for A.
    store.signOut(A, PHONE, Date.now());
    scheduler.deviceSignedOut(A, PHONE);
    await until(() => store.getPush(TOKEN) !== null, 'the sign-out queued');
    // Another node sends that entry and removes it.
    store.removePush(TOKEN, store.getPush(TOKEN)?.badge ?? -1);
    // B changes while the phone is offline for B: a new entry, queued here for B alone.
    change(B, 4);
    await until(() => store.getPush(TOKEN)?.badge === 4, 'the change of B queued');
    // The phone is back on B before the entry is due: online for the only account that changed.
    online.add(`${B}/${PHONE}`);
    held = false;
    await until(() => store.getPush(TOKEN) === null, 'the entry decided');
    assert.deepEqual(sender.badges(), [], 'not pushed: online for B, and A’s sign-out was pushed by the other node');
  });

  test('[CLUSTER-52] a stream of wakes, each faster than an outbox read, does not keep a due push from going', async () => {
    const store = new MemoryStore();
    store.putDevice(A, PHONE, { apnsToken: TOKEN }, Date.now());
    store.putDevice(B, MAC, { apnsToken: NEW_TOKEN }, Date.now());
    const sender = new ScriptedSender();
    // The outbox reads that arm the timer take 20 ms, as across a loaded network; a wake comes every 5 ms.
    const inner = asyncStore(store);
    const slow = new Proxy(inner, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property);
        if (typeof value !== 'function') return value;
        if (property !== 'duePushes' && property !== 'countPushes') return value.bind(target);
        return async (...args: unknown[]) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const scheduler = new PushScheduler(
      { offlineGraceMs: 5_000, pushDelayMs: 50, defaultTopic: 'com.example.app' },
      {
        store: slow,
        sender,
        log: pino({ level: 'silent' }),
        metrics: new PushMetrics(new Registry()),
        isOnline: () => false,
        takeDue: (now, limit) => inner.duePushes(now, limit),
      },
    );
    open.push(scheduler);
    const change = (account: typeof A, badge: number): void => {
      const counts = { badge, threads: { t: badge }, muted: [] };
      store.commit({ updates: [], counts: [{ account, counts }], bindings: [], idempotency: [] });
      scheduler.countsCommitted(account, counts);
    };
    change(A, 1);
    const started = Date.now();
    // B's badge changes every 5 ms for 1.5 s: each change replaces B's entry and wakes the scheduler.
    for (let badge = 1; Date.now() - started < 1_500; badge++) {
      change(B, badge);
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (sender.pushes.some((push) => push.apnsToken === TOKEN)) break;
    }
    assert.ok(
      sender.pushes.some((push) => push.apnsToken === TOKEN),
      'A’s phone was pushed while B kept changing',
    );
  });
});
