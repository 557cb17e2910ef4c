/**
 * The behaviour every `PushSender` shares, run against each implementation
 * (push-sender.test.ts): what a well-formed push becomes, what a malformed one becomes, and
 * what closing means. `observed()` reports what actually left the sender: requests at the
 * test APNs server for `ApnsSender`, log lines for `LogSender`.
 */
import assert from 'node:assert/strict';
import type { DeviceId } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { type BadgePush, MAX_COLLAPSE_ID_BYTES, type PushSender, SENDER_CLOSED } from '../src/push/push-sender.js';

/** The fields of a push as they left the sender. */
export interface ObservedPush {
  readonly apnsToken: string;
  readonly topic: string;
  readonly badge: number;
  readonly collapseId: string;
}

export interface ContractSubject {
  readonly sender: PushSender;
  /** Every push that has left the sender so far, in order. */
  observed(): Promise<readonly ObservedPush[]>;
  /** Frees whatever `setup` made besides the sender (servers, children). */
  teardown(): Promise<void>;
}

let tokenSeed = 0;
/** A fresh 32-byte hex device token. */
export function deviceToken(): string {
  tokenSeed += 1;
  return tokenSeed.toString(16).padStart(8, '0').repeat(8);
}

export function badgePush(overrides: Partial<BadgePush> = {}): BadgePush {
  return {
    device: 'phone-1' as DeviceId,
    apnsToken: deviceToken(),
    environment: 'production',
    topic: 'com.example.mail',
    badge: 7,
    collapseId: 'badge',
    ...overrides,
  };
}

export function pushSenderContract(name: string, setup: () => Promise<ContractSubject>): void {
  describe(`PushSender contract: ${name}`, () => {
    let subject: ContractSubject;
    beforeAll(async () => {
      subject = await setup();
    });
    afterAll(async () => {
      await subject.sender.close();
      await subject.teardown();
    });

    const observedFor = async (apnsToken: string) =>
      (await subject.observed()).filter((push) => push.apnsToken === apnsToken);

    test('a well-formed push is sent, with its token, topic, badge and collapse id', async () => {
      const push = badgePush({ badge: 12, topic: 'com.example.chat', collapseId: 'badge.chat' });
      assert.deepEqual(await subject.sender.send(push), { kind: 'sent' });
      assert.deepEqual(await observedFor(push.apnsToken), [
        { apnsToken: push.apnsToken, topic: 'com.example.chat', badge: 12, collapseId: 'badge.chat' },
      ]);
    });

    test('badge 0 is sent: it is how a badge is cleared', async () => {
      const push = badgePush({ badge: 0 });
      assert.deepEqual(await subject.sender.send(push), { kind: 'sent' });
      assert.equal((await observedFor(push.apnsToken))[0]?.badge, 0);
    });

    test('both environments are served', async () => {
      for (const environment of ['production', 'sandbox'] as const) {
        const push = badgePush({ environment });
        assert.deepEqual(await subject.sender.send(push), { kind: 'sent' }, environment);
        assert.equal((await observedFor(push.apnsToken)).length, 1, environment);
      }
    });

    test('concurrent pushes are each sent once', async () => {
      const pushes = Array.from({ length: 25 }, (_, i) => badgePush({ badge: i }));
      const results = await Promise.all(pushes.map((push) => subject.sender.send(push)));
      assert.ok(results.every((result) => result.kind === 'sent'));
      for (const push of pushes) {
        assert.deepEqual(
          (await observedFor(push.apnsToken)).map((seen) => seen.badge),
          [push.badge],
        );
      }
    });

    test('a token that is not hex is BadDeviceToken and never leaves the sender', async () => {
      for (const apnsToken of ['', 'xyz', 'abc', `${'ab'.repeat(32)}/..`]) {
        const before = (await subject.observed()).length;
        assert.deepEqual(await subject.sender.send(badgePush({ apnsToken })), {
          kind: 'invalid-token',
          reason: 'BadDeviceToken',
        });
        assert.equal((await subject.observed()).length, before, JSON.stringify(apnsToken));
      }
    });

    test('a malformed push fails without leaving the sender', async () => {
      const cases: readonly [Partial<BadgePush>, string][] = [
        [{ badge: -1 }, 'BadBadge'],
        [{ badge: 1.5 }, 'BadBadge'],
        [{ badge: Number.NaN }, 'BadBadge'],
        [{ badge: 2 ** 31 }, 'BadBadge'],
        [{ collapseId: '' }, 'BadCollapseId'],
        [{ collapseId: 'x'.repeat(MAX_COLLAPSE_ID_BYTES + 1) }, 'BadCollapseId'],
        [{ collapseId: 'é'.repeat(MAX_COLLAPSE_ID_BYTES / 2 + 1) }, 'BadCollapseId'],
        [{ topic: '' }, 'MissingTopic'],
        [{ environment: 'staging' as BadgePush['environment'] }, 'BadEnvironment'],
      ];
      const before = (await subject.observed()).length;
      for (const [overrides, reason] of cases) {
        assert.deepEqual(await subject.sender.send(badgePush(overrides)), { kind: 'failed', reason }, reason);
      }
      assert.equal((await subject.observed()).length, before);
    });

    test('a collapse id of exactly 64 bytes is fine', async () => {
      const push = badgePush({ collapseId: 'c'.repeat(MAX_COLLAPSE_ID_BYTES) });
      assert.deepEqual(await subject.sender.send(push), { kind: 'sent' });
    });

    test('after close, pushes are kept for later (retry) and nothing leaves; close twice is fine', async () => {
      await subject.sender.close();
      await subject.sender.close();
      const before = (await subject.observed()).length;
      assert.deepEqual(await subject.sender.send(badgePush()), { kind: 'retry', reason: SENDER_CLOSED });
      assert.equal((await subject.observed()).length, before);
    });
  });
}
