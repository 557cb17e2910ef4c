import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import type { PushHooks } from '../server.js';
import type { DeviceRecord, OutboxEntry, Store } from '../store/store.js';
import { MAX_ATTEMPTS, PROVIDER_KEY_RETRY_MS, retryDelay } from './backoff.js';
import type { PushMetrics } from './push-metrics.js';
import type { BadgePush, PushSender, SendResult } from './push-sender.js';

export interface PushSchedulerOptions {
  /** After a disconnect, how long a device still counts as online for the account. */
  readonly offlineGraceMs: number;
  /** The coalescing window: a device gets at most one push per window (retries aside). */
  readonly pushDelayMs: number;
  /** The configured topic, for devices that registered none. */
  readonly defaultTopic: string | null;
}

/**
 * Where the scheduler's store writes go: into the server's group commit (one fsync per turn
 * with everything else), and what runs once they are on disk. Without it, writes are
 * immediate (unit tests).
 */
export interface PushWrites {
  write(work: () => void): void;
  afterWrites(callback: () => void): void;
}

const IMMEDIATE_WRITES: PushWrites = {
  write: (work) => work(),
  afterWrites: (callback) => callback(),
};

export interface PushSchedulerDeps {
  readonly store: Store;
  readonly writes?: PushWrites;
  readonly sender: PushSender;
  readonly log: Logger;
  readonly metrics: PushMetrics;
  readonly isOnline: (account: AccountId, device: DeviceId) => boolean;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * Most pushes in flight at once. apns2 queues beyond 32 requests per client; holding the
 * rest in the outbox keeps their badges current until they go.
 */
const MAX_IN_FLIGHT = 32;
/** Node's largest timer delay (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Outbox entries read per wake-up: enough to fill the in-flight window twice. */
const DUE_BATCH = 64;
/**
 * Devices the restart sweep checks per turn of the event loop: a few milliseconds of reads
 * when nothing is owed, so syncs and ingests keep flowing while a large store is swept.
 */
const SWEEP_SLICE = 200;

/**
 * Who gets which badge when (SPEC PUSH-1..PUSH-9, invariant 5). A change of an account's
 * counts, a device going offline (after the grace period), a registration or a sign-out
 * queue the device; the push goes out one coalescing window later with the device's total
 * badge as it is then, unless that equals what APNs last accepted, or the device is online
 * for the accounts that changed. The outbox is in the store; on start every pushable device
 * whose badge differs from the delivered one is queued again, so `kill -9` loses no badge.
 */
export class PushScheduler implements PushHooks {
  readonly #grace = new Map<string, NodeJS.Timeout>();
  /** Accounts whose change queued each pending device (not persisted: after a restart, all). */
  readonly #triggers = new Map<DeviceId, Set<AccountId>>();
  readonly #inFlight = new Set<DeviceId>();
  /** Devices whose badge may have changed while their push was in flight. */
  readonly #dirty = new Set<DeviceId>();
  readonly #lastSent = new Map<DeviceId, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #sends = new Set<Promise<void>>();
  readonly #now: () => number;
  readonly #writes: PushWrites;
  /** Outbox writes not yet on disk, by device (null: removed), read before the store. */
  readonly #stagedOutbox = new Map<DeviceId, Staged<OutboxEntry | null>>();
  /** Delivered badges not yet on disk (null: cleared). */
  readonly #stagedDelivered = new Map<DeviceId, Staged<number | null>>();
  /** Counts #wake calls: only the latest one's callback arms the timer. */
  #wakeSeq = 0;

  constructor(
    private readonly options: PushSchedulerOptions,
    private readonly deps: PushSchedulerDeps,
  ) {
    this.#now = deps.now ?? Date.now;
    this.#writes = deps.writes ?? IMMEDIATE_WRITES;
  }

  /** The device's outbox entry, including writes not yet on disk. */
  #getPush(device: DeviceId): OutboxEntry | null {
    const staged = this.#stagedOutbox.get(device);
    return staged !== undefined ? staged.value : this.deps.store.getPush(device);
  }

  #getDelivered(device: DeviceId): number | null {
    const staged = this.#stagedDelivered.get(device);
    return staged !== undefined ? staged.value : this.deps.store.getDelivered(device);
  }

  /** Stages a value over the store until the write that carries it is on disk. */
  #stage<V>(map: Map<DeviceId, Staged<V>>, device: DeviceId, value: V, write: () => void): void {
    const staged = { value };
    map.set(device, staged);
    this.#writes.write(write);
    this.#writes.afterWrites(() => {
      if (map.get(device) === staged) map.delete(device);
    });
  }

  #enqueue(entry: OutboxEntry): void {
    const { store } = this.deps;
    this.#stage(this.#stagedOutbox, entry.device, entry, () => store.enqueuePush(entry));
  }

  /** Removes the device's entry if it still carries `badge` (a newer value stays). */
  #remove(device: DeviceId, badge: number): void {
    const current = this.#getPush(device);
    if (current === null || current.badge !== badge) return;
    const { store } = this.deps;
    this.#stage(this.#stagedOutbox, device, null, () => store.removePush(device, badge));
  }

  #setDelivered(device: DeviceId, badge: number, at: number): void {
    const { store } = this.deps;
    this.#stage(this.#stagedDelivered, device, badge, () => store.setDelivered(device, badge, at));
  }

  /**
   * [PUSH-8] After a restart every device is offline; once the grace period has let
   * reconnecting devices come back, queue every device whose badge APNs does not have.
   */
  start(): void {
    const timer = setTimeout(() => this.#sweep(this.deps.store.pushableDevices(), 0, 0), this.options.offlineGraceMs);
    timer.unref();
    this.#wake();
  }

  /**
   * One slice of the restart sweep, then the next on a later turn of the event loop.
   *
   * #queue writes the outbox (one fsync'd transaction, ~0.4 ms), so queueing every pushable
   * device in one go would block the event loop about 1 s per 600 devices, holding up syncs,
   * ingests and pushes. So the devices are gone through a slice at a time, and only a device
   * whose badge differs from the delivered one (or that has an outbox entry, to revive it if
   * parked) is queued: a device APNs already has the badge of gets no outbox write at all.
   */
  #sweep(devices: readonly DeviceId[], from: number, queued: number): void {
    if (this.#closed) return;
    const end = Math.min(devices.length, from + SWEEP_SLICE);
    let more = queued;
    for (const device of devices.slice(from, end)) {
      if (this.#getDelivered(device) === this.#badgeOf(device) && this.#getPush(device) === null) continue;
      this.#queue(device, null, false);
      more++;
    }
    this.#wake();
    if (end < devices.length) {
      setImmediate(() => this.#sweep(devices, end, more)).unref();
      return;
    }
    this.deps.log.info({ devices: devices.length, queued: more }, 'push restart sweep done');
  }

  countsCommitted(account: AccountId, _counts: AccountCounts): void {
    for (const device of this.deps.store.devicesOf(account)) {
      if (!this.#onlineFor(account, device)) this.#queue(device, account);
    }
  }

  deviceOnline(account: AccountId, device: DeviceId): void {
    const key = graceKey(account, device);
    clearTimeout(this.#grace.get(key));
    this.#grace.delete(key);
  }

  /** [PUSH-4] Offline for the account once the grace period passes without a reconnect. */
  deviceOffline(account: AccountId, device: DeviceId): void {
    const key = graceKey(account, device);
    clearTimeout(this.#grace.get(key));
    const timer = setTimeout(() => {
      this.#grace.delete(key);
      if (!this.deps.isOnline(account, device)) this.#queue(device, account);
    }, this.options.offlineGraceMs);
    timer.unref();
    this.#grace.set(key, timer);
  }

  /** [PUSH-6] A fresh token (or badges back on) has been shown nothing: forget what APNs had. */
  deviceRegistered(account: AccountId, device: DeviceId, fresh: boolean): void {
    if (fresh) {
      const { store } = this.deps;
      this.#stage(this.#stagedDelivered, device, null, () => store.clearDelivered(device));
    }
    if (!this.#onlineFor(account, device)) this.#queue(device, account);
  }

  deviceSignedOut(account: AccountId, device: DeviceId): void {
    this.#queue(device, account);
  }

  #onlineFor(account: AccountId, device: DeviceId): boolean {
    return this.#grace.has(graceKey(account, device)) || this.deps.isOnline(account, device);
  }

  #pushable(record: DeviceRecord | null): record is DeviceRecord & { apnsToken: string } {
    return record !== null && record.apnsToken !== null && record.tokenInvalidReason === null && record.badges;
  }

  /** Current total badge of a device: the sum of its accounts' stored badges. */
  #badgeOf(device: DeviceId): number {
    let total = 0;
    for (const badge of this.deps.store.getBadges(this.deps.store.accountsOf(device)).values()) total += badge;
    return total;
  }

  /** [PUSH-5] Puts the device in the outbox (once per window), remembering why; `wake: false` leaves the timer to the caller. */
  #queue(device: DeviceId, account: AccountId | null, wake = true): void {
    if (this.#closed) return;
    const record = this.deps.store.getDevice(device);
    if (!this.#pushable(record)) return;
    const triggers = this.#triggers.get(device) ?? new Set<AccountId>();
    if (account !== null) triggers.add(account);
    this.#triggers.set(device, triggers);
    const now = this.#now();
    if (this.#inFlight.has(device)) this.#dirty.add(device);
    const existing = this.#getPush(device);
    if (existing !== null && !existing.parked && !this.#inFlight.has(device)) return;
    const lastSent = this.#lastSent.get(device) ?? Number.NEGATIVE_INFINITY;
    const entry: OutboxEntry = {
      device,
      badge: this.#badgeOf(device),
      changedAt: existing?.changedAt ?? now,
      dueAt: Math.max(now + this.options.pushDelayMs, lastSent + this.options.pushDelayMs),
      attempts: 0,
      parked: false,
    };
    this.#enqueue(entry);
    this.deps.metrics.queued.inc();
    if (wake) this.#wake();
  }

  /** Arms the timer for the earliest due entry, once the outbox writes so far are on disk. */
  #wake(): void {
    if (this.#closed) return;
    // A wake registered earlier may run before writes staged since (a later group commit):
    // only the latest wake, which runs after all of them, reads the outbox and arms the timer.
    const seq = ++this.#wakeSeq;
    this.#writes.afterWrites(() => {
      if (seq === this.#wakeSeq) this.#wakeNow();
    });
  }

  /** Arms the timer for the earliest due entry that is not in flight. */
  #wakeNow(): void {
    if (this.#closed) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#updateDepth();
    // An entry being sent stays in the outbox until it settles, so the earliest dueAt is
    // often in the past: a 0 ms timer for it would find the entry in flight and arm itself
    // again, a busy loop (with store reads) for as long as APNs takes to answer. The same at
    // MAX_IN_FLIGHT. Every settle wakes the scheduler, so waiting for it is enough.
    if (this.#inFlight.size >= MAX_IN_FLIGHT) return;
    const next =
      this.deps.store
        .duePushes(Number.MAX_SAFE_INTEGER, this.#inFlight.size + 1)
        .find((entry) => !this.#inFlight.has(entry.device))?.dueAt ?? null;
    if (next === null) return;
    // Node fires a timer longer than 2^31−1 ms at once; a farther entry is looked at again then.
    this.#timer = setTimeout(() => this.#run(), Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now())));
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = null;
    if (this.#closed) return;
    const now = this.#now();
    for (const entry of this.deps.store.duePushes(now, DUE_BATCH)) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) break;
      if (this.#inFlight.has(entry.device)) continue;
      const sending = this.#send(entry).catch((err: unknown) => {
        this.deps.log.error({ err, device: entry.device }, 'push step failed');
      });
      this.#sends.add(sending);
      void sending.finally(() => this.#sends.delete(sending));
    }
    this.#wake();
  }

  async #send(entry: OutboxEntry): Promise<void> {
    const { device } = entry;
    const { store, metrics } = this.deps;
    const record = store.getDevice(device);
    const accounts = store.accountsOf(device);
    if (!this.#pushable(record)) {
      this.#remove(device, entry.badge);
      this.#triggers.delete(device);
      return;
    }
    // [PUSH-3] Online for every account that changed: it counts for itself.
    const triggers = this.#triggers.get(device);
    const changed = triggers === undefined || triggers.size === 0 ? accounts : [...triggers];
    if (changed.length > 0 && changed.every((account) => this.#onlineFor(account, device))) {
      this.#remove(device, entry.badge);
      this.#triggers.delete(device);
      metrics.skipped.inc({ reason: 'online' });
      return;
    }
    const badge = this.#badgeOf(device);
    // [PUSH-6] APNs already has this number.
    if (this.#getDelivered(device) === badge) {
      this.#remove(device, entry.badge);
      this.#triggers.delete(device);
      metrics.skipped.inc({ reason: 'unchanged' });
      return;
    }
    this.#triggers.delete(device);
    this.#inFlight.add(device);
    const push: BadgePush = {
      device,
      apnsToken: record.apnsToken,
      environment: record.environment,
      topic: record.topic ?? this.options.defaultTopic ?? '',
      badge,
      collapseId: 'badge',
    };
    let result: SendResult;
    try {
      result = await this.deps.sender.send(push);
    } finally {
      this.#inFlight.delete(device);
    }
    this.#settle(entry, badge, push.apnsToken, result);
    this.#wake();
  }

  /** The device again, one window on, with its badge as it is now (counts changed mid-flight). */
  #requeue(entry: OutboxEntry, now: number): void {
    this.#enqueue({
      ...entry,
      badge: this.#badgeOf(entry.device),
      attempts: 0,
      parked: false,
      changedAt: now,
      dueAt: now + this.options.pushDelayMs,
    });
  }

  /** [PUSH-7] What each answer means for the token, the outbox and the metrics. */
  #settle(entry: OutboxEntry, badge: number, token: string, result: SendResult): void {
    const { store, metrics, log } = this.deps;
    const { device } = entry;
    const now = this.#now();
    const changedMidFlight = this.#dirty.delete(device);
    switch (result.kind) {
      case 'sent':
        this.#setDelivered(device, badge, now);
        this.#lastSent.set(device, now);
        if (changedMidFlight) {
          // Counts changed mid-flight: the entry queued meanwhile stays, due one window on.
          this.#requeue(entry, now);
        } else this.#remove(device, entry.badge);
        metrics.sent.inc();
        metrics.latency.observe((now - entry.changedAt) / 1000);
        return;
      case 'invalid-token': {
        const record = store.getDevice(device);
        // A token registered after the one sent, or re-registered after APNs's 410 timestamp,
        // is not the one APNs refused.
        const replaced = record === null || record.apnsToken !== token;
        const revived =
          result.timestamp !== undefined && record !== null && record.tokenRegisteredAt > result.timestamp;
        if (!replaced && !revived) this.#writes.write(() => store.invalidateToken(device, result.reason));
        if (replaced && changedMidFlight) {
          // The registration of the new token queued it while this push was in flight;
          // removing "our" entry (same badge) would drop that push and leave the new token
          // with nothing, so the entry is queued again.
          this.#requeue(entry, now);
        } else this.#remove(device, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.info({ device, reason: result.reason, replaced, revived }, 'APNs refused the token');
        return;
      }
      case 'retry': {
        const attempts = entry.attempts + 1;
        const parked = attempts >= MAX_ATTEMPTS;
        this.#enqueue({
          ...entry,
          badge: this.#badgeOf(device),
          attempts,
          parked,
          dueAt: now + retryDelay(attempts, this.deps.random, result.retryAfterMs ?? 0),
        });
        if (parked) {
          metrics.parked.inc();
          log.warn({ device, reason: result.reason, attempts }, 'push parked after retries');
        } else metrics.retried.inc({ reason: result.reason });
        return;
      }
      case 'provider-token':
        log.error(
          { device, reason: result.reason },
          'APNs rejected the provider token: check the key, key id and team id',
        );
        this.#enqueue({ ...entry, dueAt: now + PROVIDER_KEY_RETRY_MS });
        metrics.failed.inc({ reason: result.reason });
        return;
      case 'failed':
        this.#remove(device, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.warn({ device, reason: result.reason }, 'push failed for good');
        return;
    }
  }

  #updateDepth(): void {
    const { pending, parked } = this.deps.store.countPushes();
    this.deps.metrics.depth.set(pending);
    this.deps.metrics.parkedDepth.set(parked);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const timer of this.#grace.values()) clearTimeout(timer);
    this.#grace.clear();
    await Promise.allSettled([...this.#sends]);
    await this.deps.sender.close();
  }
}

/** A staged value, boxed so that two stagings of the same value are told apart. */
interface Staged<V> {
  readonly value: V;
}

function graceKey(account: AccountId, device: DeviceId): string {
  return `${account}\u0000${device}`;
}
