/**
 * The push policy of PushScheduler (SPEC PUSH-1..PUSH-9, invariant 5) in process: MemoryStore,
 * a scripted PushSender, and mocked timers and clock, so every window, grace period and
 * backoff is stepped through by hand.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { type AccountCounts, type AccountId, type DeviceId, parseAccountId, parseDeviceId } from '@badgesync/shared';
import pino from 'pino';
import { Registry } from 'prom-client';
import { MAX_ATTEMPTS, PROVIDER_KEY_RETRY_MS, retryDelay } from '../src/push/backoff.js';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler } from '../src/push/push-scheduler.js';
import type { BadgePush, PushSender, SendResult } from '../src/push/push-sender.js';
import { MemoryStore } from '../src/store/memory-store.js';

const WINDOW = 1_000;
const GRACE = 5_000;
const T0 = 1_700_000_000_000;
const A = parseAccountId('alice');
const B = parseAccountId('alice-work');
const PHONE = parseDeviceId('phone');
const MAC = parseDeviceId('mac');
const TOKEN = 'aa'.repeat(32);
const NEW_TOKEN = 'bb'.repeat(32);
const SENT: SendResult = { kind: 'sent' };

/** A PushSender answering from a script: a result at once, or `hold` until `release()`. */
class ScriptedSender implements PushSender {
  /** Every push handed over, with the mocked time it was handed over. */
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

interface Harness {
  readonly store: MemoryStore;
  readonly sender: ScriptedSender;
  readonly metrics: PushMetrics;
  readonly online: Set<string>;
  /** Outbox reads (`duePushes`) so far, and since the last settle. */
  reads: number;
  readsSinceSettle: number;
  scheduler: PushScheduler;
  /** A scheduler on the same store and sender: the process restarted. */
  restart(): void;
}

let h: Harness;

function makeScheduler(store: MemoryStore, sender: PushSender, online: Set<string>, metrics: PushMetrics) {
  return new PushScheduler(
    { offlineGraceMs: GRACE, pushDelayMs: WINDOW, defaultTopic: 'com.example.app' },
    {
      store,
      sender,
      log: pino({ level: 'silent' }),
      metrics,
      isOnline: (account, device) => online.has(`${account}/${device}`),
      now: () => Date.now(),
      random: () => 0.5,
    },
  );
}

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const store = new MemoryStore();
  const sender = new ScriptedSender();
  const online = new Set<string>();
  const metrics = new PushMetrics(new Registry());
  const duePushes = store.duePushes.bind(store);
  store.duePushes = (now, limit) => {
    h.reads++;
    // A scheduler that re-arms a 0 ms timer without progress would loop inside one mocked
    // tick forever: fail the test instead of hanging it.
    if (++h.readsSinceSettle > 500) throw new Error('the scheduler spins: 500 outbox reads without progress');
    return duePushes(now, limit);
  };
  h = {
    store,
    sender,
    metrics,
    online,
    reads: 0,
    readsSinceSettle: 0,
    scheduler: makeScheduler(store, sender, online, metrics),
    restart() {
      void h.scheduler.close();
      h.scheduler = makeScheduler(store, sender, online, new PushMetrics(new Registry()));
      h.scheduler.start();
    },
  };
  h.scheduler.start();
});

afterEach(async () => {
  await h.scheduler.close();
  mock.timers.reset();
});

/** Lets promise callbacks and the settling of sends run (setImmediate is not mocked). */
async function settle(): Promise<void> {
  h.readsSinceSettle = 0;
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Moves the mocked clock forward in 10 ms steps, settling after each. */
async function advance(ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 10) {
    mock.timers.tick(Math.min(10, left));
    await settle();
  }
}

function counts(badge: number): AccountCounts {
  return { badge, threads: badge === 0 ? {} : { t: badge }, muted: [] };
}

/** The account's counts change to `badge` and are on disk, as group commit reports it. */
function change(account: AccountId, badge: number): void {
  h.store.commit({ updates: [], counts: [{ account, counts: counts(badge) }], bindings: [], idempotency: [] });
  h.scheduler.countsCommitted(account, counts(badge));
}

function registerDevice(account: AccountId, device: DeviceId, apnsToken = TOKEN): void {
  h.store.putDevice(account, device, { apnsToken }, Date.now());
  h.scheduler.deviceRegistered(account, device);
}

async function counter(metric: { get(): Promise<{ values: Array<{ value: number; labels: object }> }> }) {
  return (await metric.get()).values.reduce((sum, sample) => sum + sample.value, 0);
}

describe('PushScheduler', () => {
  test('[PUSH-5] one push per window, carrying the final value of the burst', async () => {
    registerDevice(A, PHONE);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    for (let badge = 1; badge <= 20; badge++) {
      change(A, badge);
      await advance(20);
    }
    await advance(WINDOW);
    // The burst spans 400 ms: the window opened by its first change closes after the last.
    assert.deepEqual(h.sender.badges(), [0, 20]);
    assert.equal(h.store.getDelivered(PHONE), 20);
    assert.equal(h.store.getPush(PHONE), null, 'outbox empty');
  });

  test('[PUSH-5] a change right after a push waits a whole window from that push', async () => {
    registerDevice(A, PHONE);
    await advance(WINDOW);
    const first = h.sender.pushes[0]?.at ?? 0;
    change(A, 1);
    await advance(WINDOW - 20);
    assert.equal(h.sender.pushes.length, 1);
    await advance(40);
    assert.deepEqual(h.sender.badges(), [0, 1]);
    assert.ok((h.sender.pushes[1]?.at ?? 0) - first >= WINDOW);
  });

  test('[PUSH-2] the push carries the sum over the accounts the device is signed in to', async () => {
    registerDevice(A, PHONE);
    registerDevice(B, PHONE);
    change(A, 2);
    change(B, 3);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5]);
    assert.equal(h.store.signOut(A, PHONE, Date.now()), true);
    h.scheduler.deviceSignedOut(A, PHONE);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5, 3]);
  });

  test('[PUSH-3] online for the account that changed: no push; offline for another that changed: push', async () => {
    registerDevice(A, PHONE);
    registerDevice(B, PHONE);
    await advance(WINDOW);
    h.online.add(`${A}/${PHONE}`);
    h.scheduler.deviceOnline(A, PHONE);
    change(A, 4);
    await advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    change(B, 1);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0, 5]);
  });

  test('[PUSH-3] queued, then online before the window closes: skipped and counted', async () => {
    registerDevice(A, PHONE);
    await advance(WINDOW);
    change(A, 2);
    await advance(WINDOW / 2);
    h.online.add(`${A}/${PHONE}`);
    h.scheduler.deviceOnline(A, PHONE);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0]);
    assert.equal(await counter(h.metrics.skipped), 1);
    assert.equal(h.store.getPush(PHONE), null);
  });

  test('[PUSH-4] offline after the grace period: pushed; back within it: not', async () => {
    h.online.add(`${A}/${PHONE}`);
    h.scheduler.deviceOnline(A, PHONE);
    registerDevice(A, PHONE);
    change(A, 3);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [], 'online: the device counts for itself');
    h.online.delete(`${A}/${PHONE}`);
    h.scheduler.deviceOffline(A, PHONE);
    change(A, 4);
    await advance(GRACE - 100);
    assert.deepEqual(h.sender.badges(), [], 'within the grace period it still counts as online');
    h.online.add(`${A}/${PHONE}`);
    h.scheduler.deviceOnline(A, PHONE);
    await advance(2 * GRACE);
    assert.deepEqual(h.sender.badges(), [], 'reconnected within the grace period');
    h.online.delete(`${A}/${PHONE}`);
    h.scheduler.deviceOffline(A, PHONE);
    await advance(GRACE + WINDOW);
    assert.deepEqual(h.sender.badges(), [4]);
  });

  test('[PUSH-5] counts change while a push is in flight: a second push, one window later, with the new value', async () => {
    registerDevice(A, PHONE);
    change(A, 1);
    h.sender.answer('hold');
    await advance(WINDOW);
    assert.equal(h.sender.holding, 1);
    change(A, 2);
    change(A, 3);
    await advance(3 * WINDOW);
    assert.equal(h.sender.pushes.length, 1, 'nothing else while the first is in flight');
    h.sender.release();
    await settle();
    const releasedAt = Date.now();
    assert.equal(h.store.getDelivered(PHONE), 1);
    await advance(WINDOW - 20);
    assert.equal(h.sender.pushes.length, 1, 'the second waits a window');
    await advance(40);
    assert.deepEqual(h.sender.badges(), [1, 3]);
    assert.ok((h.sender.pushes[1]?.at ?? 0) - releasedAt >= WINDOW);
    assert.equal(h.store.getDelivered(PHONE), 3);
  });

  test('[PUSH-6] no push when APNs already has the number', async () => {
    registerDevice(A, PHONE);
    change(A, 2);
    await advance(WINDOW);
    change(A, 3);
    change(A, 2);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2]);
    assert.equal(await counter(h.metrics.skipped), 1);
  });

  test('[PUSH-7] retry with backoff, then parked after MAX_ATTEMPTS; a new change revives it', async () => {
    registerDevice(A, PHONE);
    change(A, 7);
    const retry: SendResult = { kind: 'retry', reason: 'ServiceUnavailable' };
    h.sender.answer(...Array.from({ length: MAX_ATTEMPTS }, () => retry));
    await advance(WINDOW);
    for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
      assert.equal(h.sender.pushes.length, attempt);
      const last = h.sender.pushes.at(-1)?.at ?? 0;
      await advance(last + retryDelay(attempt, () => 0.5) - 20 - Date.now());
      assert.equal(h.sender.pushes.length, attempt, `attempt ${attempt + 1} waits its backoff`);
      await advance(40);
    }
    assert.equal(h.sender.pushes.length, MAX_ATTEMPTS);
    const gaps = h.sender.pushes.slice(1).map((p, i) => p.at - (h.sender.pushes[i]?.at ?? 0));
    assert.ok(
      gaps.every((gap, i) => gap >= (gaps[i - 1] ?? 0)),
      `backoff grows: ${gaps.join(', ')}`,
    );
    assert.equal(h.store.getPush(PHONE)?.parked, true);
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 1 });
    assert.equal(await counter(h.metrics.parked), 1);
    assert.equal(await counter(h.metrics.retried), MAX_ATTEMPTS - 1);
    await advance(10 * 60_000);
    assert.equal(h.sender.pushes.length, MAX_ATTEMPTS, 'parked: not retried');
    change(A, 8);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges().at(-1), 8);
    assert.equal(h.store.getDelivered(PHONE), 8);
    assert.equal(h.store.getPush(PHONE), null);
  });

  test('[PUSH-7] a rejected provider key keeps the push pending and tries again a minute later', async () => {
    registerDevice(A, PHONE);
    change(A, 1);
    h.sender.answer({ kind: 'provider-token', reason: 'InvalidProviderToken' }, 'hold');
    await advance(WINDOW);
    assert.equal(h.sender.pushes.length, 1);
    assert.equal(h.store.getPush(PHONE)?.parked, false, 'kept pending');
    change(A, 2);
    await advance(PROVIDER_KEY_RETRY_MS - 100);
    assert.equal(h.sender.pushes.length, 1, 'a change does not hurry a rejected key');
    await advance(200);
    assert.equal(h.sender.pushes.length, 2);
    h.sender.release();
    await settle();
    assert.deepEqual(h.sender.badges(), [1, 2]);
    assert.equal(h.store.getDelivered(PHONE), 2);
    assert.equal(await counter(h.metrics.failed), 1);
  });

  test('[PUSH-7] a refused token is not used again; 410 older than the registration revives it', async () => {
    registerDevice(A, PHONE);
    h.sender.answer({ kind: 'invalid-token', reason: 'Unregistered', timestamp: T0 - 1 });
    await advance(WINDOW);
    assert.equal(h.store.getDevice(PHONE)?.tokenInvalidReason, null, 'registered after the 410 timestamp');
    h.sender.answer({ kind: 'invalid-token', reason: 'BadDeviceToken' });
    change(A, 1);
    await advance(WINDOW);
    assert.equal(h.store.getDevice(PHONE)?.tokenInvalidReason, 'BadDeviceToken');
    const sends = h.sender.pushes.length;
    change(A, 2);
    await advance(3 * WINDOW);
    assert.equal(h.sender.pushes.length, sends, 'an invalid token gets nothing');
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 0 });
  });

  test('[PUSH-7] a refusal for a token replaced meanwhile leaves the new token valid, and the new token gets the badge', async () => {
    change(A, 3);
    registerDevice(A, PHONE);
    h.sender.answer('hold');
    await advance(WINDOW);
    assert.equal(h.sender.pushes[0]?.apnsToken, TOKEN);
    registerDevice(A, PHONE, NEW_TOKEN);
    h.sender.release({ kind: 'invalid-token', reason: 'Unregistered', timestamp: Date.now() });
    await settle();
    const record = h.store.getDevice(PHONE);
    assert.equal(record?.apnsToken, NEW_TOKEN);
    assert.equal(record?.tokenInvalidReason, null, 'the new token is not the one APNs refused');
    await advance(WINDOW + 20);
    assert.deepEqual(
      h.sender.pushes.map((p) => [p.apnsToken, p.badge]),
      [
        [TOKEN, 3],
        [NEW_TOKEN, 3],
      ],
    );
    assert.equal(h.store.getDelivered(PHONE), 3);
  });

  test('[PUSH-5] a push in flight does not spin the scheduler (its entry, still due, is left to its settle)', async () => {
    registerDevice(A, PHONE);
    change(A, 1);
    h.sender.answer('hold');
    await advance(WINDOW);
    assert.equal(h.sender.holding, 1);
    const reads = h.reads;
    // Before the fix: a 0 ms timer re-armed for the in-flight entry, until the push settled.
    await advance(10 * WINDOW);
    assert.ok(h.reads - reads < 5, `${h.reads - reads} outbox reads while one push was held`);
    h.sender.release();
    await settle();
    assert.equal(h.store.getDelivered(PHONE), 1);
  });

  test('[PUSH-8] after a restart, every pushable device whose badge APNs lacks is pushed after the grace period', async () => {
    registerDevice(A, PHONE);
    h.store.putDevice(A, MAC, { apnsToken: NEW_TOKEN }, Date.now());
    change(A, 2);
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [2, 2]);
    // Counts changed on disk, but the process died before it queued anyone.
    h.store.commit({ updates: [], counts: [{ account: A, counts: counts(5) }], bindings: [], idempotency: [] });
    h.restart();
    await advance(GRACE - 100);
    assert.equal(h.sender.pushes.length, 2, 'reconnecting devices get the grace period first');
    await advance(100 + WINDOW);
    assert.deepEqual(h.sender.badges(), [2, 2, 5, 5]);
  });

  test('[PUSH-8] an outbox entry left by the last process goes out at its time', async () => {
    registerDevice(A, PHONE);
    change(A, 6);
    h.restart();
    await advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [6]);
  });
});
