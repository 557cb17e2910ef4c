import type { AccountCounts, AccountId, DeviceId } from '@badgesync/shared';
import type { Logger } from 'pino';
import { guarded } from '../guard.js';
import { isPushable, refuses } from '../store/device-record.js';
import { PushPlatform, platformOf, shortAddress } from '../store/push-address.js';
import type { OutboxEntry, Registration, Store, TokenRefusal } from '../store/store.js';
import { MAX_ATTEMPTS, PROVIDER_KEY_RETRY_MS, retryDelay } from './backoff.js';
import { badgePush } from './badge-push.js';
import { OutboxWake } from './outbox-wake.js';
import type { PushHooks, PushWrites } from './ports.js';
import type { OutboxDepth, PushMetrics } from './push-metrics.js';
import type { AnyBadgePush, PushSender, SendResult } from './push-sender.js';
import { StagedPushState } from './staged-push-state.js';
import { StoreWrites } from './store-writes.js';
import { TokenLanes } from './token-lanes.js';

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

/**
 * The store calls push makes (every one answers through a promise: the store may be across the
 * network). `commit` only carries push's own writes when no `writes` is given.
 */
export type PushStore = Pick<
  Store,
  | 'getBadges'
  | 'registrationsOf'
  | 'getRegistration'
  | 'registrationsOfToken'
  | 'pushableTokens'
  | 'getDelivered'
  | 'getPush'
  | 'duePushes'
  | 'countPushes'
  | 'commit'
>;

/** Whether the device has a live connection to the account (on this node, or any node of a cluster). */
export type Presence = (account: AccountId, device: DeviceId) => boolean | Promise<boolean>;

export interface PushSchedulerDeps {
  /** The parts of the store push reads and writes: badges, registrations, its outbox. */
  readonly store: PushStore;
  /** Where push's writes go (the group commit); without it, straight to `store.commit`. */
  readonly writes?: PushWrites;
  /** Every platform's sender (`PlatformSenders`); an APNs-only one serves APNs addresses. */
  readonly sender: PushSender<AnyBadgePush>;
  readonly log: Logger;
  readonly metrics: PushMetrics;
  readonly isOnline: Presence;
  /** How due entries are taken: `store.duePushes` by default, a cluster node's claim in a cluster. */
  readonly takeDue?: (now: number, limit: number) => Promise<OutboxEntry[]>;
  /**
   * [CLUSTER-54] How the timer's peek reads the outbox: `store.duePushes` by default; on a
   * cluster node each entry answers when this node may claim it (another node's live claim
   * holds it until the claim ends, ClusterStore.peekPushes).
   */
  readonly peekDue?: (limit: number) => Promise<OutboxEntry[]>;
  /** [CLUSTER-55] Gives back claims taken and not sent (ClusterStore.releasePushes); none by default. */
  readonly releaseDue?: (tokens: readonly string[]) => Promise<void>;
  readonly now?: () => number;
  readonly random?: () => number;
}

/**
 * Most pushes in flight at once. The rate a phone's push can go at is this over the push
 * service's round trip: at 1,000 pushes/s and ~100 ms answers about 100 are out at once (32,
 * the figure before, held a loaded node to ~200 pushes/s, each later push seconds past its
 * window). One APNs connection carries 100 streams (apns-transport.ts), so a few wait a moment
 * in its pool; beyond this, entries wait in the outbox, where their badges stay current.
 */
const MAX_IN_FLIGHT = 128;
/** Outbox entries read per wake-up: enough to fill the in-flight window twice. */
const DUE_BATCH = 256;
/**
 * Tokens the restart sweep checks per turn of the event loop: a few milliseconds of reads
 * when nothing is owed, so syncs and ingests keep flowing while a large store is swept (and
 * at most this many store reads are asked of a store on the network at once).
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
 * as it is then, unless that equals what the push service last accepted for the token, or the
 * phone is online for the accounts that changed. The outbox is in the store, by token; on start
 * every pushable token whose badge differs from the delivered one is queued again, so
 * `kill -9` loses no badge.
 *
 * Every store call answers through a promise, so other work runs between a read and the write
 * it decides: each token's decisions (queue, send, settle) run one after another in its lane
 * (TokenLanes), and its writes are read back from StagedPushState until they are durable. The
 * hooks stay synchronous for the rooms and the API: the work they start is tracked (close()
 * waits for it) and a failure is logged.
 */
export class PushScheduler implements PushHooks {
  /** Grace timers by account + device: presence is per (account, device). */
  readonly #grace = new Map<string, NodeJS.Timeout>();
  /** Accounts whose change queued each pending token (not persisted: after a restart, all). */
  readonly #triggers = new Map<string, Set<AccountId>>();
  /**
   * [CLUSTER-50] The `changedAt` of the outbox entry each token's triggers were added to. On a
   * cluster node another node may send (and remove) the entry this node queued: its triggers
   * then belong to an entry that is gone, and must not be taken for the next one's.
   */
  readonly #triggeredEntry = new Map<string, number>();
  /** Tokens read from the outbox as due, whose send is being decided in their lane. */
  readonly #picked = new Set<string>();
  /** Tokens whose push is with the sender, until its answer is settled in their lane. */
  readonly #inFlight = new Set<string>();
  /** Tokens whose badge may have changed while their push was in flight. */
  readonly #dirty = new Set<string>();
  readonly #lastSent = new Map<string, number>();
  #closed = false;
  /** Work started and not yet settled (hooks, lanes, sends, wake-ups): close() waits for it. */
  readonly #work = new Set<Promise<void>>();
  readonly #lanes: TokenLanes;
  readonly #state: StagedPushState;
  readonly #now: () => number;
  readonly #writes: PushWrites;
  /** The writes of a scheduler without a group commit, flushed by close(). */
  readonly #ownWrites: StoreWrites | null;
  /** The timer for the earliest due entry, armed by every wake (PUSH-24). */
  readonly #outboxWake: OutboxWake;

  constructor(
    private readonly options: PushSchedulerOptions,
    private readonly deps: PushSchedulerDeps,
  ) {
    this.#now = deps.now ?? Date.now;
    if (deps.writes === undefined) {
      const own = new StoreWrites(deps.store, deps.log);
      this.#ownWrites = own;
      this.#writes = own;
    } else {
      this.#ownWrites = null;
      this.#writes = deps.writes;
    }
    this.#state = new StagedPushState(deps.store, this.#writes);
    this.#lanes = new TokenLanes((err, token) =>
      deps.log.error({ err, token: shortAddress(token) }, 'push step failed'),
    );
    deps.metrics.countOutboxWith(() => this.#outboxDepth());
    this.#outboxWake = new OutboxWake({
      writes: this.#writes,
      log: deps.log,
      now: this.#now,
      nextDueAt: () => this.#nextDue(),
      run: () => this.#track('push run', this.#run()),
      track: (where, work) => this.#track(where, work),
    });
  }

  /** Keeps `work` for close() to wait on, logging its failure (no floating promise). */
  #track(where: string, work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      this.deps.log.error({ err, where }, 'push step failed');
    });
    this.#work.add(tracked);
    void tracked.then(() => this.#work.delete(tracked));
  }

  /**
   * Runs `work` in the token's lane (after its earlier decisions), tracked. [OPS-8] Work started
   * before close() still runs once it began (a change heard before the shutdown is queued);
   * sends check `#closed` themselves.
   */
  #inLane(token: string, work: () => Promise<void>): Promise<void> {
    const done = this.#lanes.run(token, work);
    this.#track('push lane', done);
    return done;
  }

  /**
   * [PUSH-8] After a restart every device is offline; once the grace period has let
   * reconnecting devices come back, queue every phone whose badge APNs does not have.
   */
  start(): void {
    const sweep = guarded(this.deps.log, 'push restart sweep', () => {
      if (!this.#closed) this.#track('push restart sweep', this.#sweep());
    });
    const timer = setTimeout(sweep, this.options.offlineGraceMs);
    timer.unref();
    this.#wake();
  }

  /**
   * The restart sweep, a slice of tokens at a time, each slice on a later turn of the event
   * loop. Queueing writes the outbox (one fsync'd transaction, ~0.4 ms), so queueing every
   * pushable token in one go would hold up syncs, ingests and pushes. So only a token whose
   * badge differs from the delivered one (or that has an outbox entry, to revive it if
   * parked) is queued: a token APNs already has the badge of gets no outbox write at all.
   */
  async #sweep(): Promise<void> {
    const at = this.#now();
    const tokens = await this.deps.store.pushableTokens();
    let queued = 0;
    for (let from = 0; from < tokens.length && !this.#closed; from += SWEEP_SLICE) {
      if (from > 0) await new Promise<void>((resolve) => setImmediate(resolve).unref());
      const slice = tokens.slice(from, from + SWEEP_SLICE);
      await Promise.all(
        slice.map((token) =>
          this.#inLane(token, async () => {
            const group = await this.deps.store.registrationsOfToken(token);
            const [delivered, badge, entry] = await Promise.all([
              this.#state.getDelivered(token),
              this.#badgeOf(group),
              this.#state.getPush(token),
            ]);
            if (delivered === badge && entry === null) return;
            if (await this.#queue(token, null, at, false)) queued++;
          }),
        ),
      );
      this.#wake();
    }
    if (!this.#closed) this.deps.log.info({ tokens: tokens.length, queued }, 'push restart sweep done');
  }

  /** [CLUSTER-47] Another node changed the outbox: the timer is armed again from what it holds now. */
  outboxChanged(): void {
    this.#wake();
  }

  /**
   * [CLUSTER-46] The addresses this scheduler queued (a change, a registration, a grace, the
   * restart sweep) and has not settled: their waiting entries are this node's to hand over.
   * Entries waiting out a retry's backoff are not among them: they keep their due time.
   */
  pendingTokens(): readonly string[] {
    return [...this.#triggers.keys()];
  }

  countsCommitted(account: AccountId, _counts: AccountCounts): void {
    if (this.#closed) return;
    this.#track('push counts', this.#countsCommitted(account, this.#now()));
  }

  /**
   * [PUSH-1] Every registration of the account offline for it queues its phone. [STORE-44] The
   * account's registrations come in one read: on a store across the network each read is a
   * round trip, queued behind the node's earlier writes.
   */
  async #countsCommitted(account: AccountId, at: number): Promise<void> {
    const registrations = await this.deps.store.registrationsOf(account);
    await Promise.all(
      registrations.map(async ({ device, address: token }) => {
        if (token === null || (await this.#onlineFor(account, device))) return;
        await this.#inLane(token, () => this.#queue(token, account, at).then(() => undefined));
      }),
    );
  }

  deviceOnline(account: AccountId, device: DeviceId): void {
    const key = graceKey(account, device);
    clearTimeout(this.#grace.get(key));
    this.#grace.delete(key);
  }

  /** [PUSH-4] Offline for the account once the grace period passes without a reconnect. */
  deviceOffline(account: AccountId, device: DeviceId): void {
    if (this.#closed) return;
    const key = graceKey(account, device);
    clearTimeout(this.#grace.get(key));
    const timer = setTimeout(
      guarded(this.deps.log, 'push grace timer', () => {
        if (this.#grace.get(key) !== timer) return;
        this.#grace.delete(key);
        if (this.#closed) return;
        this.#track('push grace timer', this.#graceOver(account, device, this.#now()));
      }),
      this.options.offlineGraceMs,
    );
    timer.unref();
    this.#grace.set(key, timer);
  }

  async #graceOver(account: AccountId, device: DeviceId, at: number): Promise<void> {
    if (await this.#onlineFor(account, device)) return;
    const token = (await this.deps.store.getRegistration(account, device))?.address ?? null;
    if (token !== null) await this.#inLane(token, () => this.#queue(token, account, at).then(() => undefined));
  }

  /**
   * [PUSH-6] A fresh token (or badges back on) has been shown nothing: forget what APNs had.
   * [PUSH-10] A registration that moved to another token leaves its old phone: that phone's
   * total no longer holds the account, so it is queued too.
   */
  deviceRegistered(account: AccountId, device: DeviceId, fresh: boolean, previousToken: string | null = null): void {
    if (this.#closed) return;
    this.#track('push registration', this.#registered(account, device, fresh, previousToken, this.#now()));
  }

  async #registered(
    account: AccountId,
    device: DeviceId,
    fresh: boolean,
    previousToken: string | null,
    at: number,
  ): Promise<void> {
    const token = (await this.deps.store.getRegistration(account, device))?.address ?? null;
    const work: Array<Promise<void>> = [];
    if (previousToken !== null && previousToken !== token) {
      work.push(this.#inLane(previousToken, () => this.#queue(previousToken, account, at).then(() => undefined)));
    }
    if (token !== null) {
      // Staged in the lane before the queue below: the send decided next reads no stale value.
      if (fresh) work.push(this.#inLane(token, async () => this.#state.clearDelivered(token)));
      if (!(await this.#onlineFor(account, device))) {
        work.push(this.#inLane(token, () => this.#queue(token, account, at).then(() => undefined)));
      }
    }
    await Promise.all(work);
  }

  deviceSignedOut(account: AccountId, device: DeviceId): void {
    if (this.#closed) return;
    this.#track('push sign-out', this.#signedOut(account, device, this.#now()));
  }

  async #signedOut(account: AccountId, device: DeviceId, at: number): Promise<void> {
    const token = (await this.deps.store.getRegistration(account, device))?.address ?? null;
    if (token !== null) await this.#inLane(token, () => this.#queue(token, account, at).then(() => undefined));
  }

  /** Online for the account: a live connection (anywhere, `isOnline`) or within the grace period. */
  async #onlineFor(account: AccountId, device: DeviceId): Promise<boolean> {
    const key = graceKey(account, device);
    if (this.#grace.has(key)) return true;
    const online = await this.deps.isOnline(account, device);
    return online || this.#grace.has(key);
  }

  /** Whether the phone is online for the account: one of its registrations in it is (PUSH-3). */
  async #phoneOnlineFor(group: readonly Registration[], account: AccountId): Promise<boolean> {
    const mine = group.filter((r) => r.account === account);
    const answers = await Promise.all(mine.map((r) => this.#onlineFor(account, r.device)));
    return answers.some(Boolean);
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
  async #badgeOf(group: readonly Registration[]): Promise<number> {
    const accounts = new Set<AccountId>();
    for (const r of group) if (r.signedIn && this.#pushable(r)) accounts.add(r.account);
    if (accounts.size === 0) return 0;
    let total = 0;
    for (const badge of (await this.deps.store.getBadges([...accounts])).values()) total += badge;
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

  /**
   * [PUSH-5] Puts the phone in the outbox (once per window), remembering why; `wake: false`
   * leaves the timer to the caller. Runs in the token's lane. `at`: when the change happened
   * (the hook's call), where the window starts, however long the store took to answer since.
   * True when it wrote an entry.
   */
  async #queue(token: string, account: AccountId | null, at: number, wake = true): Promise<boolean> {
    const group = await this.deps.store.registrationsOfToken(token);
    if (this.#target(group) === null) return false;
    // In flight: its settle (later in this lane) sends the badge as it is then, one window on.
    if (this.#inFlight.has(token)) this.#dirty.add(token);
    const existing = await this.#state.getPush(token);
    this.#trigger(token, account, existing?.changedAt ?? at);
    if (existing !== null && !existing.parked && !this.#inFlight.has(token)) {
      // [CLUSTER-44] On a cluster node the entry may be claimed by another node — one that was
      // killed mid-send holds it until its lease ends. A new value replaces the entry (same
      // window, same due time), which clears the claim, so the badge does not wait for the lease.
      if (this.deps.takeDue === undefined) return false;
      const current = await this.#badgeOf(group);
      if (current === existing.badge) return false;
      this.#state.enqueue({ ...existing, badge: current });
      if (wake) this.#wake();
      return true;
    }
    const badge = await this.#badgeOf(group);
    const now = at;
    const lastSent = this.#lastSent.get(token) ?? Number.NEGATIVE_INFINITY;
    this.#state.enqueue({
      token,
      badge,
      changedAt: existing?.changedAt ?? now,
      dueAt: Math.max(now + this.options.pushDelayMs, lastSent + this.options.pushDelayMs),
      attempts: 0,
      parked: false,
    });
    this.deps.metrics.queued.inc();
    if (wake) this.#wake();
    return true;
  }

  /**
   * Records why the token is queued, for the entry changed at `changedAt` (the one in the outbox,
   * or the one about to be written). [CLUSTER-50] Triggers of another entry are dropped first.
   */
  #trigger(token: string, account: AccountId | null, changedAt: number): void {
    let triggers = this.#triggers.get(token);
    if (triggers === undefined || this.#triggeredEntry.get(token) !== changedAt) {
      triggers = new Set<AccountId>();
      this.#triggers.set(token, triggers);
      this.#triggeredEntry.set(token, changedAt);
    }
    if (account !== null) triggers.add(account);
  }

  /** The accounts that queued the entry (none known: after a restart, or queued by another node). */
  #triggersOf(token: string, entry: OutboxEntry): ReadonlySet<AccountId> | undefined {
    return this.#triggeredEntry.get(token) === entry.changedAt ? this.#triggers.get(token) : undefined;
  }

  #forget(token: string): void {
    this.#triggers.delete(token);
    this.#triggeredEntry.delete(token);
  }

  /** Arms the timer for the earliest due entry, once the outbox writes so far are durable. */
  #wake(): void {
    if (!this.#closed) this.#outboxWake.wake();
  }

  /** Tokens picked or in flight: neither is taken from the outbox again until it settles. */
  #busy(token: string): boolean {
    return this.#picked.has(token) || this.#inFlight.has(token);
  }

  /** When the earliest entry that is not picked or in flight is due (null: none, or no room to send). */
  async #nextDue(): Promise<number | null> {
    // An entry being sent stays in the outbox until it settles, so the earliest dueAt is
    // often in the past: a 0 ms timer for it would find the entry in flight and arm itself
    // again, a busy loop (with store reads) for as long as APNs takes to answer. The same at
    // MAX_IN_FLIGHT. Every settle wakes the scheduler, so waiting for it is enough.
    const busy = this.#picked.size + this.#inFlight.size;
    return busy >= MAX_IN_FLIGHT ? null : await this.#nextDueAt(busy + 1);
  }

  /**
   * When the earliest pending entry not being worked on is due (null: none). A peek, not a
   * claim: `limit` is one more than the entries being worked on, which it skips.
   */
  async #nextDueAt(limit: number): Promise<number | null> {
    // [CLUSTER-54] On a cluster node an entry another node holds is due when its claim ends:
    // peeked at its due time, it would arm a 0 ms timer, claim nothing, and arm it again (a
    // loop of database reads) until the lease ran out.
    const entries = await (this.deps.peekDue?.(limit) ?? this.deps.store.duePushes(Number.MAX_SAFE_INTEGER, limit));
    return entries.find((entry) => !this.#busy(entry.token))?.dueAt ?? null;
  }

  /**
   * The entries due now that this scheduler is to decide. The one place due entries are taken
   * from the outbox: a cluster node claims them instead (ClusterStore.claimDuePushes, a lease
   * per entry), so two nodes never send the same entry.
   */
  #takeDue(now: number, limit: number): Promise<OutboxEntry[]> {
    return this.deps.takeDue?.(now, limit) ?? this.deps.store.duePushes(now, limit);
  }

  async #run(): Promise<void> {
    if (this.#closed) return;
    const now = this.#now();
    if (this.#picked.size + this.#inFlight.size < MAX_IN_FLIGHT) {
      // [CLUSTER-55] Claimed and not picked (no room left): given back, not held for a lease.
      const unpicked: string[] = [];
      // A cluster node claims only what it has room to send: what it claimed past that went back
      // at once, but a node peeking meanwhile saw it claimed and waited for the lease (STORE-35).
      // Its own claims are never answered again, so in-flight entries take no room in the answer;
      // the outbox of one node answers them (they stay until they settle), so it asks for more.
      const room = MAX_IN_FLIGHT - this.#picked.size - this.#inFlight.size;
      const limit = this.deps.takeDue === undefined ? DUE_BATCH : Math.min(DUE_BATCH, room);
      for (const entry of await this.#takeDue(now, limit)) {
        // Its push is with the sender: the claim stays with the send (released, another node could
        // send it too); the settle decides what follows.
        if (this.#busy(entry.token)) continue;
        if (this.#closed || this.#picked.size + this.#inFlight.size >= MAX_IN_FLIGHT) {
          unpicked.push(entry.token);
          continue;
        }
        const { token } = entry;
        this.#picked.add(token);
        void this.#inLane(token, async () => {
          try {
            if (!this.#closed) await this.#decide(token, now);
          } finally {
            // Not sent (skipped, or gone meanwhile): the next due entry may go.
            if (this.#picked.delete(token)) this.#wake();
          }
        });
      }
      if (unpicked.length > 0) await this.deps.releaseDue?.(unpicked);
    }
    this.#wake();
  }

  /**
   * Sends the token's due entry, or drops it (PUSH-3, PUSH-6). Runs in the token's lane, and
   * reads the entry again there: what was read as due may have been replaced or sent since.
   * Presence is asked last, just before the push goes.
   */
  async #decide(token: string, now: number): Promise<void> {
    const { store, metrics } = this.deps;
    const entry = await this.#state.getPush(token);
    if (entry === null || entry.parked || entry.dueAt > now) return;
    const group = await store.registrationsOfToken(token);
    const target = this.#target(group);
    if (target === null) {
      await this.#state.remove(token, entry.badge);
      this.#forget(token);
      return;
    }
    const [badge, delivered] = await Promise.all([this.#badgeOf(group), this.#state.getDelivered(token)]);
    // [PUSH-3] Online for every account that changed: it counts for itself. After a restart
    // (no triggers), the accounts the phone is signed in to.
    const triggers = this.#triggersOf(token, entry);
    const changed =
      triggers === undefined || triggers.size === 0
        ? [...new Set(group.filter((r) => r.signedIn).map((r) => r.account))]
        : [...triggers];
    const online = await Promise.all(changed.map((account) => this.#phoneOnlineFor(group, account)));
    if (changed.length > 0 && online.every(Boolean)) {
      await this.#state.remove(token, entry.badge);
      this.#forget(token);
      metrics.skipped.inc({ reason: 'online' });
      return;
    }
    // [PUSH-6] APNs already has this number.
    if (delivered === badge) {
      await this.#state.remove(token, entry.badge);
      this.#forget(token);
      metrics.skipped.inc({ reason: 'unchanged' });
      return;
    }
    this.#forget(token);
    this.#picked.delete(token);
    this.#inFlight.add(token);
    const sent: SentTo = { sentAt: this.#now(), environment: target.environment, topic: target.topic };
    // The lane goes on while the push is out (a change meanwhile marks it dirty); the answer
    // is settled in the lane, after whatever queued before it.
    this.#track(
      'push send',
      this.#transmit(entry, badge, sent, badgePush(target, token, badge, this.options.defaultTopic)),
    );
  }

  async #transmit(entry: OutboxEntry, badge: number, sent: SentTo, push: AnyBadgePush): Promise<void> {
    let result: SendResult;
    try {
      result = await this.deps.sender.send(push);
    } catch (err) {
      // A sender answers every failure as a result; a throw is a bug, retried as a network error.
      this.deps.log.error({ err, token: shortAddress(entry.token) }, 'push sender threw');
      result = { kind: 'retry', reason: 'SenderThrew' };
    }
    // Settled even after close() began: the answer is work in flight, and its record is owed.
    await this.#lanes.run(entry.token, async () => {
      this.#inFlight.delete(entry.token);
      await this.#settle(entry, badge, sent, result);
    });
    this.#wake();
  }

  /**
   * [CLUSTER-56] Whether the token's outbox entry is no longer the one that was sent (replaced or
   * removed by another node meanwhile). On one node a change mid-flight marks the token dirty
   * instead, so this is never true there.
   */
  async #contested(entry: OutboxEntry): Promise<boolean> {
    const current = await this.#state.getPush(entry.token);
    return current === null || current.changedAt !== entry.changedAt || current.badge !== entry.badge;
  }

  /** The token again, one window on, with its badge as it is now (counts changed mid-flight). */
  async #requeue(entry: OutboxEntry, now: number): Promise<void> {
    const badge = await this.#badgeOf(await this.deps.store.registrationsOfToken(entry.token));
    // The changes made mid-flight triggered the entry that follows.
    if (this.#triggers.has(entry.token)) this.#triggeredEntry.set(entry.token, now);
    this.#state.enqueue({
      ...entry,
      badge,
      attempts: 0,
      parked: false,
      changedAt: now,
      dueAt: now + this.options.pushDelayMs,
    });
  }

  /** [PUSH-7] What each answer means for the token, the outbox and the metrics. Runs in the token's lane. */
  async #settle(entry: OutboxEntry, badge: number, sent: SentTo, result: SendResult): Promise<void> {
    const { store, metrics, log } = this.deps;
    const { token } = entry;
    const now = this.#now();
    const changedMidFlight = this.#dirty.delete(token);
    switch (result.kind) {
      case 'sent':
        this.#lastSent.set(token, now);
        if (changedMidFlight) {
          // Counts changed mid-flight: the entry queued meanwhile stays, due one window on.
          this.#state.setDelivered(token, badge, now);
          await this.#requeue(entry, now);
        } else if (await this.#contested(entry)) {
          // [CLUSTER-56] Another node replaced the entry while this push was out (CLUSTER-44
          // cleared the claim) and may have sent the new badge too: which one the phone shows
          // is unknown. Nothing is recorded as delivered, and the badge as it is now goes once
          // more, one window on, after both sends.
          this.#state.clearDelivered(token);
          await this.#requeue(entry, now);
        } else {
          this.#state.setDelivered(token, badge, now);
          await this.#state.remove(token, entry.badge);
        }
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
        this.#state.invalidate(token, refusal);
        const group = await store.registrationsOfToken(token);
        const refusedSome = group.some((r) => refuses(refusal, token, r));
        const left = group.some((r) => this.#pushable(r) && !refuses(refusal, token, r));
        if (changedMidFlight || (refusedSome && left)) {
          // A registration (or a change) while the push was in flight queued the token again:
          // removing "our" entry (same badge) would drop that push. Or the phone has other
          // registrations to try: the badge goes out through them, one window on. (Each such
          // retry refuses at least one registration more, so it ends.)
          await this.#requeue(entry, now);
        } else await this.#state.remove(token, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.info({ token: shortAddress(token), reason: result.reason }, 'the push service refused the token');
        return;
      }
      case 'retry': {
        const attempts = entry.attempts + 1;
        const parked = attempts >= MAX_ATTEMPTS;
        const current = await this.#badgeOf(await store.registrationsOfToken(token));
        this.#state.enqueue({
          ...entry,
          badge: current,
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
        this.#state.enqueue({ ...entry, dueAt: now + PROVIDER_KEY_RETRY_MS });
        metrics.failed.inc({ reason: result.reason });
        return;
      case 'failed':
        await this.#state.remove(token, entry.badge);
        metrics.failed.inc({ reason: result.reason });
        log.warn({ token: shortAddress(token), reason: result.reason }, 'push failed for good');
        return;
    }
  }

  /**
   * [PUSH-25] The outbox's depth for a scrape of the gauges. Counted then, not on every wake: a
   * count reads the whole outbox, and a wake follows every batch of changes. Null once closed
   * (the store may be too) or when the count fails: the gauges keep their value.
   */
  #outboxDepth(): Promise<OutboxDepth | null> {
    if (this.#closed) return Promise.resolve(null);
    const depth = this.deps.store.countPushes().catch((err: unknown) => {
      this.deps.log.warn({ err }, 'push outbox count failed');
      return null;
    });
    this.#track(
      'push outbox count',
      depth.then(() => undefined),
    );
    return depth;
  }

  /**
   * Stops queueing and sending, then waits for the work in flight (store calls, sends and the
   * recording of their answers) and, without a group commit, for push's writes to be durable:
   * nothing calls the store after this resolves.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#outboxWake.close();
    for (const timer of this.#grace.values()) clearTimeout(timer);
    this.#grace.clear();
    while (this.#work.size > 0) await Promise.allSettled([...this.#work]);
    await this.#ownWrites?.flushed();
    await this.deps.sender.close();
  }
}

/** Where a push went, for what APNs's answer refers to. */
interface SentTo {
  readonly sentAt: number;
  readonly environment: Registration['environment'];
  /** The registration's own topic (null: the configured one went). */
  readonly topic: string | null;
}

function graceKey(account: AccountId, device: DeviceId): string {
  return `${account}\u0000${device}`;
}
