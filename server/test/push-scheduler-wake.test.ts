/**
 * [PUSH-24] Pushes go out at their due time under a steady stream of changes: with a group
 * commit that always has a batch in flight (every step lands the batch before and hands over
 * the next), every outbox write's wake reads the outbox once the write is durable, though a
 * later wake is always waiting behind it.
 */
import assert from 'node:assert/strict';
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, test, vi } from 'vitest';
import type { PushWrites } from '../src/push/ports.js';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler } from '../src/push/push-scheduler.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { PushWrite } from '../src/store/store.js';
import { GRACE, ScriptedSender, T0, WINDOW } from './push-scheduler-harness.js';

/** A group commit stepped by hand: `step()` lands the batch in flight and hands over the one gathered. */
class SteppedCommit implements PushWrites {
  #gathering: { writes: PushWrite[]; callbacks: Array<() => void> } = { writes: [], callbacks: [] };
  #inFlight: { callbacks: Array<() => void> } | null = null;

  constructor(private readonly store: MemoryStore) {}

  write(write: PushWrite): void {
    this.#gathering.writes.push(write);
  }

  afterWrites(callback: () => void): void {
    if (this.#gathering.writes.length > 0) this.#gathering.callbacks.push(callback);
    else if (this.#inFlight !== null) this.#inFlight.callbacks.push(callback);
    else callback();
  }

  step(): void {
    const landed = this.#inFlight;
    const next = this.#gathering;
    this.#gathering = { writes: [], callbacks: [] };
    // Handed over: every read sees it from now on (STORE-18); durable at the next step.
    if (next.writes.length > 0) {
      this.store.commit({ updates: [], counts: [], bindings: [], idempotency: [], push: next.writes });
      this.#inFlight = { callbacks: next.callbacks };
    } else this.#inFlight = null;
    for (const callback of landed?.callbacks ?? []) callback();
    for (const callback of next.writes.length > 0 ? [] : next.callbacks) callback();
  }
}

const STEP_MS = 10;
const ACCOUNTS = 400;
const account = (i: number) => parseAccountId(`acct-${i}`);
const token = (i: number) => (i + 1).toString(16).padStart(64, '0');
const DEVICE = parseDeviceId('phone');

describe('PushScheduler: wakes under a steady stream of changes', () => {
  let store: MemoryStore;
  let sender: ScriptedSender;
  let commit: SteppedCommit;
  let scheduler: PushScheduler;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    store = new MemoryStore();
    for (let i = 0; i < ACCOUNTS; i++) store.putDevice(account(i), DEVICE, { apnsToken: token(i) }, Date.now());
    sender = new ScriptedSender();
    commit = new SteppedCommit(store);
    scheduler = new PushScheduler(
      { offlineGraceMs: GRACE, pushDelayMs: WINDOW, defaultTopic: 'com.example.app' },
      {
        store: asyncStore(store),
        writes: commit,
        sender,
        log: pino({ level: 'silent' }),
        metrics: new PushMetrics(new Registry()),
        isOnline: () => false,
        now: () => Date.now(),
      },
    );
    scheduler.start();
  });
  afterEach(async () => {
    const closed = scheduler.close();
    for (let i = 0; i < 5; i++) commit.step();
    await closed;
    vi.useRealTimers();
  });

  test('[PUSH-24] with a change committed every 10 ms, each push goes out one window after its change', async () => {
    const changedAt = new Map<string, number>();
    for (let i = 0; i < 2 * (WINDOW / STEP_MS); i++) {
      const a = account(i);
      store.commit({
        updates: [],
        counts: [{ account: a, counts: { badge: 1, threads: { t: 1 }, muted: [] } }],
        bindings: [],
        idempotency: [],
      });
      changedAt.set(token(i), Date.now());
      scheduler.countsCommitted(a, { badge: 1, threads: { t: 1 }, muted: [] });
      for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      commit.step();
      vi.advanceTimersByTime(STEP_MS);
      for (let turn = 0; turn < 5; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    // The changes of the first window have been due for a window: each went out in time.
    assert.ok(sender.pushes.length >= WINDOW / STEP_MS - 5, `${sender.pushes.length} pushes during the stream`);
    for (const push of sender.pushes) {
      const late = push.at - ((changedAt.get(push.apnsToken) ?? 0) + WINDOW);
      assert.ok(late >= 0 && late <= 3 * STEP_MS, `a push ${late} ms past its due time`);
    }
  });
});
