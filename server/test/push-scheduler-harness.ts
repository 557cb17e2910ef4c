/**
 * A PushScheduler in process for policy tests: a MemoryStore (set up synchronously by the
 * test, read by the scheduler through asyncStore, as the server's store), a scripted PushSender, and mocked
 * `setTimeout` and `Date`, so every window, grace period and backoff is stepped by hand.
 * `useScheduler()` registers the hooks that build one per test and tear it down.
 */
import assert from 'node:assert/strict';
import { type AccountCounts, type AccountId, type DeviceId, parseAccountId, parseDeviceId } from '@badgesync/shared';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, vi } from 'vitest';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler, type PushStore } from '../src/push/push-scheduler.js';
import type { BadgePush, PushSender, SendResult } from '../src/push/push-sender.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store, SyncStore } from '../src/store/store.js';

export const WINDOW = 1_000;
export const GRACE = 5_000;
export const T0 = 1_700_000_000_000;
export const A = parseAccountId('alice');
export const B = parseAccountId('alice-work');
export const PHONE = parseDeviceId('phone');
export const MAC = parseDeviceId('mac');
export const TOKEN = 'aa'.repeat(32);
export const NEW_TOKEN = 'bb'.repeat(32);
export const SENT: SendResult = { kind: 'sent' };
/** A scheduler re-arming a 0 ms timer without progress loops inside one mocked tick: fail instead of hanging. */
const SPIN_LIMIT = 10_000;

/** A PushSender answering from a script: a result at once, or `hold` until `release()`. */
export class ScriptedSender implements PushSender {
  /** Every push handed over, with the (mocked) time it was handed over. */
  readonly pushes: Array<BadgePush & { readonly at: number }> = [];
  readonly #script: Array<SendResult | 'hold'> = [];
  readonly #held: Array<(result: SendResult) => void> = [];

  answer(...results: Array<SendResult | 'hold'>): void {
    this.#script.push(...results);
  }

  get holding(): number {
    return this.#held.length;
  }

  release(result: SendResult = SENT): void {
    const resolve = this.#held.shift();
    assert.ok(resolve, 'a push is held');
    resolve(result);
  }

  badges(): number[] {
    return this.pushes.map((push) => push.badge);
  }

  send(push: BadgePush): Promise<SendResult> {
    this.pushes.push({ ...push, at: Date.now() });
    const next = this.#script.shift() ?? SENT;
    if (next !== 'hold') return Promise.resolve(next);
    return new Promise((resolve) => this.#held.push(resolve));
  }

  async close(): Promise<void> {}
}

export class Harness {
  readonly sender = new ScriptedSender();
  readonly online = new Set<string>();
  metrics = new PushMetrics(new Registry());
  /** The topics the next scheduler (after restart()) is configured for; null: any. */
  allowedTopics: ReadonlySet<string> | null = null;
  scheduler: PushScheduler;
  /** Outbox reads (`duePushes`) so far, and since the last settle. */
  reads = 0;
  #readsSinceSettle = 0;

  /**
   * `wrap`: what the scheduler's store becomes (late or held answers); the store as asyncStore
   * gives it by default. `store`: a MemoryStore by default (the test sets it up synchronously).
   */
  constructor(
    private readonly wrap: (store: Store) => PushStore = (store) => store,
    readonly store: SyncStore = new MemoryStore(),
  ) {
    const duePushes = this.store.duePushes.bind(this.store);
    this.store.duePushes = (now, limit) => {
      this.reads++;
      if (++this.#readsSinceSettle > SPIN_LIMIT) throw new Error('the scheduler spins: outbox reads without progress');
      return duePushes(now, limit);
    };
    this.scheduler = this.#makeScheduler();
    this.scheduler.start();
  }

  #makeScheduler(): PushScheduler {
    return new PushScheduler(
      {
        offlineGraceMs: GRACE,
        pushDelayMs: WINDOW,
        defaultTopic: 'com.example.app',
        allowedTopics: this.allowedTopics,
      },
      {
        store: this.wrap(asyncStore(this.store)),
        sender: this.sender,
        log: pino({ level: process.env.PUSH_TEST_LOG ?? 'silent' }),
        metrics: this.metrics,
        isOnline: (account, device) => this.online.has(`${account}/${device}`),
        now: () => Date.now(),
        random: () => 0.5,
      },
    );
  }

  /** A new scheduler on the same store and sender: the process restarted. */
  restart(): void {
    void this.scheduler.close();
    this.metrics = new PushMetrics(new Registry());
    this.scheduler = this.#makeScheduler();
    this.scheduler.start();
  }

  /** Lets promise callbacks and the settling of sends run (setImmediate is not mocked). */
  async settle(): Promise<void> {
    this.#readsSinceSettle = 0;
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Moves the mocked clock forward in 10 ms steps, settling after each. */
  async advance(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= 10) {
      vi.advanceTimersByTime(Math.min(10, left));
      await this.settle();
    }
  }

  /** The account's counts change to `badge` and are on disk, as group commit reports it. */
  change(account: AccountId, badge: number): void {
    this.commitCounts(account, badge);
    this.scheduler.countsCommitted(account, counts(badge));
  }

  /** Counts on disk that no scheduler heard of (the process died before it queued anyone). */
  commitCounts(account: AccountId, badge: number): void {
    this.store.commit({ updates: [], counts: [{ account, counts: counts(badge) }], bindings: [], idempotency: [] });
  }

  /** PUT …/devices/{device} in the account, told to the scheduler as the API tells it. */
  register(account: AccountId, device: DeviceId, apnsToken = TOKEN, fresh = true): void {
    const before = this.store.getRegistration(account, device)?.address ?? null;
    this.store.putDevice(account, device, { apnsToken }, Date.now());
    this.scheduler.deviceRegistered(account, device, fresh, before);
  }

  goOnline(account: AccountId, device: DeviceId): void {
    this.online.add(`${account}/${device}`);
    this.scheduler.deviceOnline(account, device);
  }

  goOffline(account: AccountId, device: DeviceId): void {
    this.online.delete(`${account}/${device}`);
    this.scheduler.deviceOffline(account, device);
  }
}

function counts(badge: number): AccountCounts {
  return { badge, threads: badge === 0 ? {} : { t: badge }, muted: [] };
}

/** The sum of a prom-client metric's samples. */
export async function counter(metric: { get(): Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await metric.get()).values.reduce((sum, sample) => sum + sample.value, 0);
}

/** One Harness per test (mocked timers from T0), closed after it. */
export function useScheduler(): { readonly h: Harness } {
  const context = { h: null as unknown as Harness };
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    context.h = new Harness();
  });
  afterEach(async () => {
    await context.h.scheduler.close();
    vi.useRealTimers();
  });
  return context;
}
