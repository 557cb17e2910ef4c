/**
 * Push schedulers as cluster nodes on one real PostgreSQL database (SPEC CLUSTER-19): each
 * claims due entries for its node ID (ClusterStore.claimDuePushes), peeks at the outbox by when
 * it may claim (peekPushes) and gives back what it claimed and did not send (releasePushes).
 * Real timers, short windows; the senders are scripted.
 */
import assert from 'node:assert/strict';
import { type AccountId, type DeviceId, parseDeviceId } from '@badgesync/shared';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, test } from 'vitest';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler, type PushStore } from '../src/push/push-scheduler.js';
import type { SendResult } from '../src/push/push-sender.js';
import { PgStore } from '../src/store/index.js';
import { useEmptiedDatabase } from './pg-database.js';
import { A, PHONE, ScriptedSender, TOKEN } from './push-scheduler-harness.js';
import { batch } from './store-fixtures.js';

/** The claim lease a cluster node takes (PUSH_CLAIM_LEASE_MS): far longer than any test waits. */
const LEASE_MS = 20_000;
/** A short coalescing window: entries come due while the test runs. */
const WINDOW_MS = 100;
/** The scheduler's cap of pushes in flight (MAX_IN_FLIGHT in push-scheduler.ts). */
const MAX_IN_FLIGHT = 128;

const stores: PgStore[] = [];
const schedulers: PushScheduler[] = [];
const senders: ScriptedSender[] = [];

const fixture = useEmptiedDatabase();
afterEach(async () => {
  // Held pushes answer, so each scheduler's close() has nothing left to wait for.
  for (const sender of senders.splice(0)) while (sender.holding > 0) sender.release({ kind: 'retry', reason: 'End' });
  await Promise.all(schedulers.splice(0).map((scheduler) => scheduler.close()));
  await Promise.all(stores.splice(0).map((store) => store.close()));
});

async function openStore(): Promise<PgStore> {
  const store = await PgStore.open({ url: fixture.db.url });
  stores.push(store);
  return store;
}

/** Outbox reads a node made: its peeks, claims and plain due reads. */
interface Reads {
  count: number;
}

/** A cluster node's push scheduler named `node` on `store`, counting its outbox reads. */
function clusterNode(store: PgStore, node: string, sender: ScriptedSender, reads: Reads = { count: 0 }): PushScheduler {
  senders.push(sender);
  const counted = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property);
      if (typeof value !== 'function') return value;
      if (property === 'duePushes') {
        return (...args: Parameters<PgStore['duePushes']>) => {
          reads.count++;
          return target.duePushes(...args);
        };
      }
      return value.bind(target);
    },
  }) as PushStore;
  const scheduler = new PushScheduler(
    // The restart sweep (PUSH-8, after the grace period) would queue a wrong phone again: not while a test runs.
    { offlineGraceMs: 600_000, pushDelayMs: WINDOW_MS, defaultTopic: 'com.example.app' },
    {
      store: counted,
      sender,
      log: pino({ level: process.env.PUSH_TEST_LOG ?? 'silent' }),
      metrics: new PushMetrics(new Registry()),
      isOnline: () => false,
      takeDue: (now, limit) => {
        reads.count++;
        return store.claimDuePushes(node, now, limit, LEASE_MS);
      },
      peekDue: (limit) => {
        reads.count++;
        return store.peekPushes(node, Date.now(), limit);
      },
      releaseDue: async (tokens) => {
        await store.releasePushes(node, tokens);
      },
    },
  );
  schedulers.push(scheduler);
  return scheduler;
}

async function setBadge(store: PgStore, account: AccountId, badge: number): Promise<void> {
  await store.commit(batch({ counts: [{ account, counts: { badge, threads: { t: badge }, muted: [] } }] }));
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`never: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('push schedulers as cluster nodes on PostgreSQL', () => {
  test('[CLUSTER-54] while another node holds a due entry, a node reads the outbox a few times, not in a loop', async () => {
    const store = await openStore();
    await store.putDevice(A, PHONE, { apnsToken: TOKEN }, Date.now());
    await setBadge(store, A, 2);
    const now = Date.now();
    await store.enqueuePush({
      token: TOKEN,
      badge: 2,
      changedAt: now - 10,
      dueAt: now - 10,
      attempts: 0,
      parked: false,
    });
    assert.equal((await store.claimDuePushes('other', now, 10, LEASE_MS)).length, 1, 'the other node holds it');
    const reads: Reads = { count: 0 };
    const sender = new ScriptedSender();
    clusterNode(store, 'me', sender, reads).start();
    await sleep(1_000);
    // One peek on start (the timer is armed for the claim's end), a few more at most; a node
    // that peeked at the due time re-read the database hundreds of times in that second.
    assert.ok(reads.count <= 5, `${reads.count} outbox reads in one second`);
    assert.deepEqual(sender.badges(), [], 'nothing sent: the other node holds the entry');
  });

  test('[CLUSTER-55] a node at its in-flight cap gives back what it claimed: the push after the cap goes as soon as a send settles, not a lease later', async () => {
    const store = await openStore();
    const phones = MAX_IN_FLIGHT + 2;
    const devices: DeviceId[] = [];
    for (let i = 0; i < phones; i++) devices.push(parseDeviceId(`phone-${i}`));
    await Promise.all(
      devices.map((device, i) =>
        store.putDevice(A, device, { apnsToken: i.toString(16).padStart(64, '0') }, Date.now()),
      ),
    );
    await setBadge(store, A, 1);
    // Every phone due before the node starts: its first claim takes all of them, two past the cap.
    const now = Date.now();
    await Promise.all(
      devices.map((_, i) =>
        store.enqueuePush({
          token: i.toString(16).padStart(64, '0'),
          badge: 1,
          changedAt: now,
          dueAt: now,
          attempts: 0,
          parked: false,
        }),
      ),
    );
    const sender = new ScriptedSender();
    sender.answer(...Array<'hold'>(phones).fill('hold'));
    clusterNode(store, 'me', sender).start();
    await until(() => sender.pushes.length === MAX_IN_FLIGHT, 'the first 128 pushes in flight', 20_000);
    await sleep(300);
    assert.equal(sender.pushes.length, MAX_IN_FLIGHT, 'no more than the cap in flight');
    const answered: SendResult = { kind: 'sent' };
    sender.release(answered);
    // The settle wakes the node: one of the two waiting phones goes at once (well within the lease).
    await until(() => sender.pushes.length === MAX_IN_FLIGHT + 1, 'the 129th push after one settled', 5_000);
  });

  test('[CLUSTER-56] a badge another node sent while this node’s push was in flight is not recorded over: the phone’s last push carries the latest badge', async () => {
    const [storeX, storeY] = [await openStore(), await openStore()];
    await storeX.putDevice(A, PHONE, { apnsToken: TOKEN }, Date.now());
    await setBadge(storeX, A, 2);
    const senderX = new ScriptedSender();
    const senderY = new ScriptedSender();
    senderX.answer('hold');
    const x = clusterNode(storeX, 'x', senderX);
    const y = clusterNode(storeY, 'y', senderY);
    x.start();
    y.start();
    // Node X hears of the change, queues the phone and sends 2; APNs holds the answer.
    x.countsCommitted(A, { badge: 2, threads: { t: 2 }, muted: [] });
    await until(() => senderX.holding === 1, 'X’s push of 2 in flight');
    // The badge becomes 3 on node Y: the waiting entry takes 3, its claim cleared (CLUSTER-44),
    // and Y sends 3, recorded as delivered.
    await setBadge(storeY, A, 3);
    y.countsCommitted(A, { badge: 3, threads: { t: 3 }, muted: [] });
    await until(async () => senderY.badges().includes(3) && (await storeY.getPush(TOKEN)) === null, 'Y sent 3');
    assert.equal(await storeY.getDelivered(TOKEN), 3);
    // X's 2 is accepted last: the phone may show 2.
    const answeredAt = Date.now();
    senderX.release({ kind: 'sent' });
    const sentSince = () => [...senderX.pushes, ...senderY.pushes].filter((p) => p.at >= answeredAt);
    await until(
      async () =>
        sentSince().some((p) => p.badge === 3) &&
        (await storeX.getDelivered(TOKEN)) === 3 &&
        (await storeX.getPush(TOKEN)) === null,
      'the phone pushed 3 again after X’s 2 was accepted, recorded, nothing waiting',
    );
    assert.deepEqual(
      sentSince().map((p) => p.badge),
      [3],
      'once more, with the latest badge',
    );
  });
});
