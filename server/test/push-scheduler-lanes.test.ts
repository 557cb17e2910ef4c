/**
 * One token's decisions do not interleave (PUSH-5 over a store that answers through promises):
 * a counts change that arrives while a push's answer is being recorded waits for it, so the
 * recording cannot remove the entry the change relies on.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test, vi } from 'vitest';
import type { PushStore } from '../src/push/push-scheduler.js';
import type { Store } from '../src/store/store.js';
import { A, Harness, PHONE, SENT, T0, TOKEN, WINDOW } from './push-scheduler-harness.js';

/** Holds every outbox read (`getPush`) while closed; they answer, in order, once it opens. */
class HeldReads {
  #held: Array<() => void> | null = null;

  close(): void {
    this.#held = [];
  }

  open(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const release of held) release();
  }

  get waiting(): number {
    return this.#held?.length ?? 0;
  }

  wrap(store: Store): PushStore {
    return {
      getBadges: (accounts) => store.getBadges(accounts),
      registrationsOf: (account) => store.registrationsOf(account),
      getRegistration: (account, device) => store.getRegistration(account, device),
      registrationsOfToken: (address) => store.registrationsOfToken(address),
      pushableTokens: () => store.pushableTokens(),
      getDelivered: (token) => store.getDelivered(token),
      getPush: async (token) => {
        const held = this.#held;
        if (held !== null) await new Promise<void>((resolve) => held.push(resolve));
        return store.getPush(token);
      },
      duePushes: (now, limit) => store.duePushes(now, limit),
      countPushes: () => store.countPushes(),
      commit: (batch, holdMs) => store.commit(batch, holdMs),
    };
  }
}

describe('PushScheduler: one lane per push address', () => {
  let h: Harness;
  const reads = new HeldReads();
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: T0 });
    h = new Harness((store) => reads.wrap(store));
  });
  afterEach(async () => {
    reads.open();
    await h.scheduler.close();
    vi.useRealTimers();
  });

  test('[PUSH-5] a change while a push is being recorded as sent is pushed after it', async () => {
    h.register(A, PHONE);
    h.change(A, 1);
    h.sender.answer('hold');
    await h.advance(WINDOW);
    assert.equal(h.sender.holding, 1, 'badge 1 is out');
    // The push service accepts badge 1; recording it reads the outbox, which answers late.
    reads.close();
    h.sender.release(SENT);
    await h.settle();
    assert.equal(reads.waiting, 1, 'the record of the answer waits for its outbox read');
    // Meanwhile the counts change: the phone must get badge 2.
    h.change(A, 2);
    await h.settle();
    reads.open();
    await h.settle();
    await h.advance(WINDOW + 20);
    assert.deepEqual(h.sender.badges(), [1, 2]);
    assert.equal(h.store.getDelivered(TOKEN), 2);
    assert.equal(h.store.getPush(TOKEN), null);
  });
});
