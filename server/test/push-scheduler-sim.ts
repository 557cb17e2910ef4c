/**
 * A PushScheduler against a store and a presence that answer late: every store call and every
 * presence question is answered after a random number of microtasks and event-loop turns
 * (seeded), as a store and a presence directory across the network would. The test drives
 * counts changes, presence flips, registrations and sign-outs, and a sender whose answers also
 * come late (sent, or retry); the sim watches what a user would see:
 *
 * - at most one push in flight per address (PUSH-5);
 * - no push to a phone online for every account it is in, long after the last thing that
 *   could have queued it (PUSH-3);
 * - once quiet, every offline phone shows the sum of its accounts' badges (PUSH-10, PUSH-2).
 */
import assert from 'node:assert/strict';
import { type AccountCounts, type AccountId, type DeviceId, parseAccountId, parseDeviceId } from '@badgesync/shared';
import pino from 'pino';
import { Registry } from 'prom-client';
import { vi } from 'vitest';
import { PushMetrics } from '../src/push/push-metrics.js';
import { PushScheduler, type PushStore } from '../src/push/push-scheduler.js';
import type { BadgePush, PushSender, SendResult } from '../src/push/push-sender.js';
import { MemoryStore } from '../src/store/memory-store.js';

export const SIM_WINDOW = 200;
export const SIM_GRACE = 500;
/** Time steps of the mocked clock: each step lets the late answers come before the next. */
const STEP_MS = 10;
/** The push service's slowest answer (mocked time): a push spans several steps of the test. */
const MAX_ANSWER_MS = 100;
/** Consecutive retries answered per address: fewer than MAX_ATTEMPTS, so nothing parks. */
const MAX_RETRIES_IN_A_ROW = 2;

export const SIM_ACCOUNTS = ['a0', 'a1', 'a2'].map(parseAccountId);
export const SIM_DEVICES = ['d0', 'd1', 'd2'].map(parseDeviceId);
export const SIM_TOKENS = ['aa', 'bb', 'cc'].map((b) => b.repeat(32));

export type SimOp =
  | { readonly kind: 'change'; readonly account: number; readonly badge: number }
  | { readonly kind: 'online'; readonly account: number; readonly device: number }
  | { readonly kind: 'offline'; readonly account: number; readonly device: number }
  | { readonly kind: 'register'; readonly account: number; readonly device: number; readonly token: number }
  | { readonly kind: 'signOut'; readonly account: number; readonly device: number }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'turns'; readonly n: number };

/** mulberry32: a small seeded generator, so a failing seed replays the same delays. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function counts(badge: number): AccountCounts {
  return { badge, threads: badge === 0 ? {} : { t: badge }, muted: [] };
}

function key(account: AccountId, device: DeviceId): string {
  return `${account}/${device}`;
}

export class PushSim {
  readonly mem = new MemoryStore();
  readonly #random: () => number;
  readonly #online = new Map<string, number>();
  /** Per address: when something last happened that may queue it (a registration came or left, went offline). */
  readonly #disturbed = new Map<string, number>();
  /** Per address: the badge the phone shows (the last push its service accepted). */
  readonly shown = new Map<string, number>();
  readonly #inFlight = new Set<string>();
  readonly #retriesInARow = new Map<string, number>();
  readonly violations: string[] = [];
  readonly stats = { pushes: 0, retries: 0, storeCalls: 0, offlinePhones: 0, onlineAll: 0 };
  quiet = false;
  readonly scheduler: PushScheduler;

  constructor(seed: number) {
    this.#random = seeded(seed);
    const sender: PushSender = { send: (push) => this.#send(push), close: async () => {} };
    this.scheduler = new PushScheduler(
      { offlineGraceMs: SIM_GRACE, pushDelayMs: SIM_WINDOW, defaultTopic: 'com.example.app' },
      {
        store: this.#lateStore(),
        sender,
        log: pino({ level: process.env.PUSH_TEST_LOG ?? 'silent' }),
        metrics: new PushMetrics(new Registry()),
        isOnline: async (account, device) => {
          await this.#late();
          return this.#online.has(key(account, device));
        },
        random: () => 0.5,
      },
    );
    this.scheduler.start();
  }

  /** A few microtasks, sometimes a turn of the event loop or two. */
  async #late(): Promise<void> {
    const hops = Math.floor(this.#random() * 4);
    for (let i = 0; i < hops; i++) await Promise.resolve();
    if (this.#random() < 0.3) await turn();
    if (this.#random() < 0.1) await turn();
  }

  /**
   * The MemoryStore behind late answers. A read runs at a random moment after it is asked and
   * answers later still; a commit is applied when called (reads asked after it see it,
   * STORE-18) and reported durable later.
   */
  #lateStore(): PushStore {
    const { mem } = this;
    const read =
      <A extends unknown[], R>(call: (...args: A) => R) =>
      async (...args: A): Promise<R> => {
        this.stats.storeCalls++;
        await this.#late();
        const answer = call.apply(mem, args);
        await this.#late();
        return answer;
      };
    return {
      getBadges: read(mem.getBadges),
      registrationsOf: read(mem.registrationsOf),
      getRegistration: read(mem.getRegistration),
      registrationsOfToken: read(mem.registrationsOfToken),
      pushableTokens: read(mem.pushableTokens),
      getDelivered: read(mem.getDelivered),
      getPush: read(mem.getPush),
      duePushes: read(mem.duePushes),
      countPushes: read(mem.countPushes),
      commit: async (batch) => {
        mem.commit(batch);
        await this.#late();
      },
    };
  }

  async #send(push: BadgePush): Promise<SendResult> {
    const address = push.apnsToken;
    this.stats.pushes++;
    if (this.#inFlight.has(address)) this.violations.push(`two pushes in flight to ${address.slice(0, 4)}`);
    this.#inFlight.add(address);
    this.#checkNotOnline(address);
    try {
      // The push service answers late, in mocked time: changes land while a push is out.
      const ms = Math.floor(this.#random() * MAX_ANSWER_MS);
      if (ms > 0) await new Promise<void>((resolve) => setTimeout(resolve, ms));
      else await turn();
      const retries = this.#retriesInARow.get(address) ?? 0;
      if (!this.quiet && retries < MAX_RETRIES_IN_A_ROW && this.#random() < 0.25) {
        this.#retriesInARow.set(address, retries + 1);
        this.stats.retries++;
        return { kind: 'retry', reason: 'ServiceUnavailable' };
      }
      this.#retriesInARow.delete(address);
      this.shown.set(address, push.badge);
      return { kind: 'sent' };
    } finally {
      this.#inFlight.delete(address);
    }
  }

  /**
   * [PUSH-3] A push to a phone whose signed-in registrations have all been online since
   * before the last thing that could queue it, and for longer than any push queued before that
   * takes to be decided (a grace period, a window, a push in flight and its requeue), is a
   * push to a phone online for the account that changed.
   */
  #checkNotOnline(address: string): void {
    const mine = this.mem.registrationsOfToken(address).filter((r) => r.signedIn);
    if (mine.length === 0) return;
    const since = mine.map((r) => this.#online.get(key(r.account, r.device)));
    if (since.some((at) => at === undefined)) return;
    const onlineSince = Math.max(...(since as number[]));
    this.stats.onlineAll++;
    const disturbed = this.#disturbed.get(address) ?? Number.NEGATIVE_INFINITY;
    if (disturbed < onlineSince && Date.now() - onlineSince > SIM_GRACE + 3 * SIM_WINDOW + 2 * MAX_ANSWER_MS) {
      this.violations.push(
        `push to ${address.slice(0, 4)}, online for all its accounts for ${Date.now() - onlineSince} ms`,
      );
    }
  }

  #disturb(address: string | null): void {
    if (address !== null) this.#disturbed.set(address, Date.now());
  }

  async run(op: SimOp): Promise<void> {
    const account = 'account' in op ? (SIM_ACCOUNTS[op.account] as AccountId) : null;
    const device = 'device' in op ? (SIM_DEVICES[op.device] as DeviceId) : null;
    const registration = account !== null && device !== null ? this.mem.getRegistration(account, device) : null;
    switch (op.kind) {
      case 'change':
        this.mem.commit({
          updates: [],
          counts: [{ account: account as AccountId, counts: counts(op.badge) }],
          bindings: [],
          idempotency: [],
        });
        this.scheduler.countsCommitted(account as AccountId, counts(op.badge));
        return;
      case 'online':
        if (
          registration === null ||
          !registration.signedIn ||
          this.#online.has(key(registration.account, registration.device))
        )
          return;
        this.#online.set(key(registration.account, registration.device), Date.now());
        this.scheduler.deviceOnline(registration.account, registration.device);
        return;
      case 'offline':
        if (registration === null) return;
        this.#offline(registration.account, registration.device, registration.address);
        return;
      case 'register': {
        const token = SIM_TOKENS[op.token] as string;
        const before = registration?.address ?? null;
        this.mem.putDevice(account as AccountId, device as DeviceId, { apnsToken: token }, Date.now());
        this.#disturb(before);
        this.#disturb(token);
        this.scheduler.deviceRegistered(account as AccountId, device as DeviceId, before !== token, before);
        return;
      }
      case 'signOut':
        if (registration === null || !registration.signedIn) return;
        // A signed-out device's connections close (its tokens are revoked).
        this.#offline(registration.account, registration.device, registration.address);
        this.mem.signOut(registration.account, registration.device, Date.now());
        this.#disturb(registration.address);
        this.scheduler.deviceSignedOut(registration.account, registration.device);
        return;
      case 'wait':
        await this.advance(op.ms);
        return;
      case 'turns':
        for (let i = 0; i < op.n; i++) await turn();
        return;
    }
  }

  #offline(account: AccountId, device: DeviceId, address: string | null): void {
    if (!this.#online.delete(key(account, device))) return;
    this.#disturb(address);
    this.scheduler.deviceOffline(account, device);
  }

  async advance(ms: number): Promise<void> {
    for (let left = ms; left > 0; left -= STEP_MS) {
      vi.advanceTimersByTime(Math.min(STEP_MS, left));
      // Sometimes no turn at all: the scheduler's work spills over into the next steps and ops.
      const turns = this.quiet ? 4 : Math.floor(this.#random() * 3);
      for (let i = 0; i < turns; i++) await turn();
    }
  }

  /** Nothing happens any more but time: the push services accept everything. */
  async quieten(): Promise<void> {
    this.quiet = true;
    // Grace, a window, a retry's backoff (at most MAX_RETRIES_IN_A_ROW), a window again.
    await this.advance(SIM_GRACE + 12 * SIM_WINDOW);
  }

  /**
   * [PUSH-10][PUSH-2] Every phone all of whose signed-in registrations are offline (and that
   * has a pushable registration) shows the sum of its signed-in accounts' badges.
   */
  assertConverged(): void {
    assert.deepEqual(this.violations, []);
    for (const address of SIM_TOKENS) {
      const group = this.mem.registrationsOfToken(address);
      if (group.length === 0) continue;
      const signedIn = group.filter((r) => r.signedIn);
      if (signedIn.some((r) => this.#online.has(key(r.account, r.device)))) continue;
      this.stats.offlinePhones++;
      let expected = 0;
      for (const badge of this.mem.getBadges([...new Set(signedIn.map((r) => r.account))]).values()) expected += badge;
      assert.equal(this.shown.get(address) ?? 0, expected, `the phone of ${address.slice(0, 4)} shows its total`);
    }
  }
}
