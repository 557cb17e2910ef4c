import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { guarded } from '../guard.js';
import { isPushable, refuses } from '../store/device-record.js';
import { PushPlatform, platformOf, shortAddress, tokenOf } from '../store/push-address.js';
import { applyPushWrite } from '../store/push-write.js';
import type {
  CountsStore,
  DeviceRegistry,
  OutboxEntry,
  PushOutbox,
  PushWrite,
  Registration,
  TokenRefusal,
} from '../store/store.js';
import { MAX_ATTEMPTS, PROVIDER_KEY_RETRY_MS, retryDelay } from './backoff.js';
import type { PushHooks, PushWrites } from './ports.js';
import type { PushMetrics } from './push-metrics.js';
import type { AnyBadgePush, PushSender, SendResult } from './push-sender.js';

export interface PushSchedulerOptions {
  /** After a disconnect, how long a device still counts as online for the account. */
  readonly offlineGraceMs: number;
  /** The coalescing window: a phone (push address) gets at most one push per window (retries aside). */
  readonly pushDelayMs: number;
  /** The configured topic, for devices that registered none. */
  readonly defaultTopic: string | null;
  /**
   * [API-9] The topics registrations may name (null: any). A registration stored with a topic
   * the server is no longer configured for (the settings changed) is not pushed to.
   */
  readonly allowedTopics?: ReadonlySet<string> | null;
}

/** Store writes done at once, for a scheduler without a group commit (unit tests). */
function immediateWrites(store: PushOutbox & DeviceRegistry): PushWrites {
  return {
    write: (write) => applyPushWrite(store, write),
    afterWrites: (callback) => callback(),
  };
}

export interface PushSchedulerDeps {
  /** The parts of the store push reads and writes: badges, registrations, its outbox. */
  readonly store: CountsStore & DeviceRegistry & PushOutbox;
  readonly writes?: PushWrites;
  /** Every platform's sender (`PlatformSenders`); an APNs-only one serves APNs addresses. */
  readonly sender: PushSender<AnyBadgePush>;
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
 * Tokens the restart sweep checks per turn of the event loop: a few milliseconds of reads
 * when nothing is owed, so syncs and ingests keep flowing while a large store is swept.
 */
const SWEEP_SLICE = 200;

/**
 * Who gets which badge when (SPEC PUSH-1..PUSH-10, PUSH-14, invariant 5). The phone a push
 * reaches is a push address (store/push-address.ts: an APNs token, an FCM token or a Web Push
 * subscription; "token" below): every registration (account, device) carrying it is one phone, which
 * gets one push per coalescing window with the sum of the badges of those registrations'
 * accounts (PUSH-10). A change of an account's counts, a registration going offline (after
 * the grace period), a registration or a sign-out queue the token; the push goes out one
 * window later, through the sender of the address's platform, with the phone's total badge
 * as it is then, unless that equals what the push service last accepted for the token, or the phone is online for the accounts that changed. The outbox is
 * in the store, by token; on start every pushable token whose badge differs from the
 * delivered one is queued again, so `kill -9` loses no badge.
 */
export class PushScheduler implements PushHooks {
  /** Grace timers by account + device: presence is per (account, device). */
  readonly #grace = new Map<string, NodeJS.Timeout>();
  /** Accounts whose change queued each pending token (not persisted: after a restart, all). */
  readonly #triggers = new Map<string, Set<AccountId>>();
  readonly #inFlight = new Set<string>();
  /** Tokens whose badge may have changed while their push was in flight. */
  readonly #dirty = new Set<string>();
  readonly #lastSent = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #sends = new Set<Promise<void>>();
  readonly #now: () => number;
  readonly #writes: PushWrites;
  /** Outbox writes not yet on disk, by token (null: removed), read before the store. */
  readonly #stagedOutbox = new Map<string, Staged<OutboxEntry | null>>();
  /** Delivered badges not yet on disk, by token (null: cleared). */
  readonly #stagedDelivered = new Map<string, Staged<number | null>>();
  /** Counts #wake calls: only the latest one's callback arms the timer. */
  #wakeSeq = 0;

  constructor(
    private readonly options: PushSchedulerOptions,
    private readonly deps: PushSchedulerDeps,
  ) {
    this.#now = deps.now ?? Date.now;
    this.#writes = deps.writes ?? immediateWrites(deps.store);
  }

  /** The token's outbox entry, including writes not yet on disk. */
  #getPush(token: string): OutboxEntry | null {
    const staged = this.#stagedOutbox.get(token);
    return staged !== undefined ? staged.value : this.deps.store.getPush(token);
  }

  #getDelivered(token: string): number | null {
    const staged = this.#stagedDelivered.get(token);
    return staged !== undefined ? staged.value : this.deps.store.getDelivered(token);
  }

  /** Stages a value over the store until the write that carries it is on disk. */
  #stage<V>(map: Map<string, Staged<V>>, token: string, value: V, write: PushWrite): void {
    const staged = { value };
    map.set(token, staged);
    this.#writes.write(write);
    this.#writes.afterWrites(() => {
      if (map.get(token) === staged) map.delete(token);
    });
  }

  #enqueue(entry: OutboxEntry): void {
    this.#stage(this.#stagedOutbox, entry.token, entry, { kind: 'enqueuePush', entry });
  }

  /** Removes the token's entry if it still carries `badge` (a newer value stays). */
  #remove(token: string, badge: number): void {
    const current = this.#getPush(token);
    if (current === null || current.badge !== badge) return;
    this.#stage(this.#stagedOutbox, token, null, { kind: 'removePush', token, badge });
  }

  #setDelivered(token: string, badge: number, at: number): void {
    this.#stage(this.#stagedDelivered, token, badge, { kind: 'setDelivered', token, badge, at });
  }

  /**
   * [PUSH-8] After a restart every device is offline; once the grace period has let
   * reconnecting devices come back, queue every phone whose badge APNs does not have.
   */
  start(): void {
    const sweep = guarded(this.deps.log, 'push restart sweep', () =>
      this.#sweep(this.deps.store.pushableTokens(), 0, 0),
    );
    const timer = setTimeout(sweep, this.options.offlineGraceMs);
    timer.unref();
    this.#wake();
  }

  /**
   * One slice of the restart sweep, then the next on a later turn of the event loop.
   *
   * #queue writes the outbox (one fsync'd transaction, ~0.4 ms), so queueing every pushable
   * token in one go would block the event loop about 1 s per 600 tokens, holding up syncs,
   * ingests and pushes. So the tokens are gone through a slice at a time, and only a token
   * whose badge differs from the delivered one (or that has an outbox entry, to revive it if
   * parked) is queued: a token APNs already has the badge of gets no outbox write at all.
   */
  #sweep(tokens: readonly string[], from: number, queued: number): void {
    if (this.#closed) return;
    const end = Math.min(tokens.length, from + SWEEP_SLICE);
    let more = queued;
    for (const token of tokens.slice(from, end)) {
      const group = this.deps.store.registrationsOfToken(token);
      if (this.#getDelivered(token) === this.#badgeOf(group) && this.#getPush(token) === null) continue;
      this.#queue(token, null, false);
      more++;
    }
    this.#wake();
    if (end < tokens.length) {
      setImmediate(guarded(this.deps.log, 'push restart sweep', () => this.#sweep(tokens, end, more))).unref();
      return;
    }
    this.deps.log.info({ tokens: tokens.length, queued: more }, 'push restart sweep done');
  }

  countsCommitted(account: AccountId, _counts: AccountCounts): void {
    const { store } = this.deps;
    for (const device of store.devicesOf(account)) {
      const token = store.getRegistration(account, device)?.address ?? null;
      if (token !== null && !this.#onlineFor(account, device)) this.#queue(token, account);
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
    const timer = setTimeout(
      guarded(this.deps.log, 'push grace timer', () => {
        this.#grace.delete(key);
        if (this.deps.isOnline(account, device)) return;
        const token = this.deps.store.getRegistration(account, device)?.address ?? null;
        if (token !== null) this.#queue(token, account);
      }),
      this.options.offlineGraceMs,
    );
    timer.unref();
    this.#grace.set(key, timer);
  }

  /**
   * [PUSH-6] A fresh token (or badges back on) has been shown nothing: forget what APNs had.
   * [PUSH-10] A registration that moved to another token leaves its old phone: that phone's
   * total no longer holds the account, so it is queued too.
   */
  deviceRegistered(account: AccountId, device: DeviceId, fresh: boolean, previousToken: string | null = null): void {
    const { store } = this.deps;
    const token = store.getRegistration(account, device)?.address ?? null;
    if (previousToken !== null && previousToken !== token) this.#queue(previousToken, account);
    if (token === null) return;
    if (fresh) this.#stage(this.#stagedDelivered, token, null, { kind: 'clearDelivered', token });
    if (!this.#onlineFor(account, device)) this.#queue(token, account);
  }

  deviceSignedOut(account: AccountId, device: DeviceId): void {
    const token = this.deps.store.getRegistration(account, device)?.address ?? null;
    if (token !== null) this.#queue(token, account);
  }

  #onlineFor(account: AccountId, device: DeviceId): boolean {
    return this.#grace.has(graceKey(account, device)) || this.deps.isOnline(account, device);
  }

  /** Whether the phone is online for the account: one of its registrations in it is (PUSH-3). */
  #phoneOnlineFor(group: readonly Registration[], account: AccountId): boolean {
    return group.some((r) => r.account === account && this.#onlineFor(account, r.device));
  }

  /** A registration that may be pushed: a valid address, badges on, (APNs) a topic still configured. */
  #pushable(r: Registration): r is Registration & { address: string } {
    const allowed = this.options.allowedTopics ?? null;
    return (
      isPushable(r) &&
      (platformOf(r.address) !== PushPlatform.apns || r.topic === null || allowed === null || allowed.has(r.topic))
    );
  }

  /**
   * [PUSH-10] A phone's total badge: the sum of the stored badges of the accounts whose
   * registrations carry its token, are signed in and pushable. An account counts once, however
   * many of its registrations carry the token.
   */
  #badgeOf(group: readonly Registration[]): number {
    const accounts = new Set<AccountId>();
    for (const r of group) if (r.signedIn && this.#pushable(r)) accounts.add(r.account);
    let total = 0;
    for (const badge of this.deps.store.getBadges([...accounts]).values()) total += badge;
    return total;
  }

  /**
   * Where a push to the phone goes: the environment and topic of its most recently registered
   * pushable registration (a token belongs to one app in one environment; the newest
   * registration says which). Null when no registration may be pushed.
   */
  #target(group: readonly Registration[]): (Registration & { address: string }) | null {
    let newest: (Registration & { address: string }) | null = null;
    for (const r of group) {
      if (this.#pushable(r) && (newest === null || r.tokenRegisteredAt >= newest.tokenRegisteredAt)) newest = r;
    }
    return newest;
  }

  /** [PUSH-5] Puts the phone in the outbox (once per window), remembering why; `wake: false` leaves the timer to the caller. */
  #queue(token: string, account: AccountId | null, wake = true): void {
    if (this.#closed) return;
    const group = this.deps.store.registrationsOfToken(token);
    if (this.#target(group) === null) return;
    const triggers = this.#triggers.get(token) ?? new Set<AccountId>();
    if (account !== null) triggers.add(account);
    this.#triggers.set(token, triggers);
    const now = this.#now();
    if (this.#inFlight.has(token)) this.#dirty.add(token);
    const existing = this.#getPush(token);
    if (existing !== null && !existing.parked && !this.#inFlight.has(token)) return;
    const lastSent = this.#lastSent.get(token) ?? Number.NEGATIVE_INFINITY;
    const entry: OutboxEntry = {
      token,
      badge: this.#badgeOf(group),
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
    this.#writes.afterWrites(
      guarded(this.deps.log, 'push wake', () => {
        if (seq === this.#wakeSeq) this.#wakeNow();
      }),
    );
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
        .find((entry) => !this.#inFlight.has(entry.token))?.dueAt ?? null;
    if (next === null) return;
    // Node fires a timer longer than 2^31−1 ms at once; a farther entry is looked at again then.
    const run = guarded(this.deps.log, 'push timer', () => this.#run());
    this.#timer = setTimeout(run, Math.min(MAX_TIMER_MS, Math.max(0, next - this.#now())));
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = null;
    if (this.#closed) return;
    const now = this.#now();
    for (const entry of this.deps.store.duePushes(now, DUE_BATCH)) {
      if (this.#inFlight.size >= MAX_IN_FLIGHT) break;
      if (this.#inFlight.has(entry.token)) continue;
      const sending = this.#send(entry).catch((err: unknown) => {
        this.deps.log.error({ err, token: shortAddress(entry.token) }, 'push step failed');
      });
      this.#sends.add(sending);
      void sending.finally(() => this.#sends.delete(sending));
    }
    this.#wake();
  }

  async #send(entry: OutboxEntry): Promise<void> {
    const { token } = entry;
    const { store, metrics } = this.deps;
    const group = store.registrationsOfToken(token);
    const target = this.#target(group);
    if (target === null) {
      this.#remove(token, entry.badge);
      this.#triggers.delete(token);
      return;
    }
    // [PUSH-3] Online for every account that changed: it counts for itself. After a restart
    // (no triggers), the accounts the phone is signed in to.
    const triggers = this.#triggers.get(token);
    const changed =
      triggers === undefined || triggers.size === 0
        ? [...new Set(group.filter((r) => r.signedIn).map((r) => r.account))]
        : [...triggers];
    if (changed.length > 0 && changed.every((account) => this.#phoneOnlineFor(group, account))) {
      this.#remove(token, entry.badge);
      this.#triggers.delete(token);
      metrics.skipped.inc({ reason: 'online' });
      return;
    }
    const badge = this.#badgeOf(group);
    // [PUSH-6] APNs already has this number.
    if (this.#getDelivered(token) === badge) {
      this.#remove(token, entry.badge);
      this.#triggers.delete(token);
      metrics.skipped.inc({ reason: 'unchanged' });
      return;
    }
    this.#triggers.delete(token);
    this.#inFlight.add(token);
    const push = this.#push(target, token, badge);
    const sentAt = this.#now();
    let result: SendResult;
    try {
      result = await this.deps.sender.send(push);
    } finally {
      this.#inFlight.delete(token);
    }
    this.#settle(entry, badge, { sentAt, environment: target.environment, topic: target.topic }, result);
    this.#wake();
  }

  /** [PUSH-14] The push for the address's platform, addressed as its newest registration says. */
  #push(target: Registration, address: string, badge: number): AnyBadgePush {
    const { device } = target;
    switch (platformOf(address)) {
      case PushPlatform.fcm:
        return { platform: 'fcm', device, fcmToken: tokenOf(address), badge, collapseKey: COLLAPSE_KEY };
      case PushPlatform.webpush:
        return {
          platform: 'webpush',
          device,
          subscription: {
            endpoint: tokenOf(address),
            // A webpush address is only ever stored with its keys (STORE-19); empty keys would
            // fail the sender's own checks rather than reach a push service.
            keys: target.webpushKeys ?? { p256dh: '', auth: '' },
          },
          badge,
          collapseId: COLLAPSE_KEY,
        };
      case PushPlatform.apns:
        return {
          device,
          apnsToken: address,
          environment: target.environment,
          topic: target.topic ?? this.options.defaultTopic ?? '',
          badge,
          collapseId: COLLAPSE_KEY,
        };
    }
  }

  /** The token again, one window on, with its badge as it is now (counts changed mid-flight). */
  #requeue(entry: OutboxEntry, now: number): void {
    this.#enqueue({
      ...entry,
      badge: this.#badgeOf(this.deps.store.registrationsOfToken(entry.token)),
      attempts: 0,
      parked: false,
      changedAt: now,
      dueAt: now + this.options.pushDelayMs,
    });
  }

  /** [PUSH-7] What each answer means for the token, the outbox and the metrics. */
  #settle(entry: OutboxEntry, badge: number, sent: SentTo, result: SendResult): void {
    const { store, metrics, log } = this.deps;
    const { token } = entry;
    const now = this.#now();
    const changedMidFlight = this.#dirty.delete(token);
    switch (result.kind) {
      case 'sent':
        this.#setDelivered(token, badge, now);
        this.#lastSent.set(token, now);
        if (changedMidFlight) {
          // Counts changed mid-flight: the entry queued meanwhile stays, due one window on.
          this.#requeue(entry, now);
        } else this.#remove(token, entry.badge);
        metrics.sent.inc();
        metrics.latency.observe((now - entry.changedAt) / 1000);
        return;
      case 'invalid-token': {
        // Registrations of this token made after APNs's 410 timestamp, or after the push was
        // sent, are newer than what APNs refused: they keep the token. So do registrations
        // naming another environment or topic: APNs judged the pair the push went to, and a
        // registration that named a wrong topic must not stop the phone's right one.
        const refusal: TokenRefusal = {
          reason: result.reason,
          registeredAtOrBefore: result.timestamp ?? sent.sentAt,
          environment: sent.environment,
          topic: sent.topic,
        };
        this.#writes.write({ kind: 'invalidateToken', token, refusal });
        const group = store.registrationsOfToken(token);
        const refusedSome = group.some((r) => refuses(refusal, token, r));
        const left = group.some((r) => this.#pushable(r) && !refuses(refusal, token, r));
        if (changedMidFlight || (refusedSome && left)) {
          // A registration (or a change) while the push was in flight queued the token again:
          // removing "our" entry (same badge) would drop that push. Or the phone has other
          // registrations to try: the badge goes out through them, one window on. (Each such
          // retry refuses at least one registration more, so it ends.)
          this.#requeue(entry, now);
        } else this.#remove(token, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.info({ token: shortAddress(token), reason: result.reason }, 'the push service refused the token');
        return;
      }
      case 'retry': {
        const attempts = entry.attempts + 1;
        const parked = attempts >= MAX_ATTEMPTS;
        this.#enqueue({
          ...entry,
          badge: this.#badgeOf(store.registrationsOfToken(token)),
          attempts,
          parked,
          dueAt: now + retryDelay(attempts, this.deps.random, result.retryAfterMs ?? 0),
        });
        if (parked) {
          metrics.parked.inc();
          log.warn({ token: shortAddress(token), reason: result.reason, attempts }, 'push parked after retries');
        } else metrics.retried.inc({ reason: result.reason });
        return;
      }
      case 'provider-token':
        log.error(
          { token: shortAddress(token), platform: platformOf(token), reason: result.reason },
          platformOf(token) === PushPlatform.apns
            ? 'APNs rejected the provider token: check the key, key id and team id'
            : `${platformOf(token)} rejected our credentials: check the service account or keys`,
        );
        this.#enqueue({ ...entry, dueAt: now + PROVIDER_KEY_RETRY_MS });
        metrics.failed.inc({ reason: result.reason });
        return;
      case 'failed':
        this.#remove(token, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.warn({ token: shortAddress(token), reason: result.reason }, 'push failed for good');
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

/**
 * The collapse id (APNs), collapse key (FCM) and Topic (Web Push) of every badge push: the
 * push service and the device keep only the newest badge.
 */
const COLLAPSE_KEY = 'badge';

/** Where a push went, for what APNs's answer refers to. */
interface SentTo {
  readonly sentAt: number;
  readonly environment: Registration['environment'];
  /** The registration's own topic (null: the configured one went). */
  readonly topic: string | null;
}

/** A staged value, boxed so that two stagings of the same value are told apart. */
interface Staged<V> {
  readonly value: V;
}

function graceKey(account: AccountId, device: DeviceId): string {
  return `${account}\u0000${device}`;
}
