/**
 * The behaviour every `PushSender` shares, run against each implementation and platform
 * (push-sender.test.ts for APNs, fcm-sender.test.ts for FCM): what a well-formed push
 * becomes, what a malformed one becomes, and what closing means. A `PushShape` says how a
 * platform's pushes are made and what of them must arrive; `observed()` reports what actually
 * left the sender: requests at the test APNs or FCM server, log lines for the logging senders.
 */
import assert from 'node:assert/strict';
import type { DeviceId } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import {
  type BadgePush,
  type FcmBadgePush,
  MAX_COLLAPSE_ID_BYTES,
  type PushLogLevel,
  type PushSender,
  SENDER_CLOSED,
  type SendResult,
} from '../src/push/push-sender.js';

/** The fields of a push as they left the sender; `topic` for APNs only. */
export interface ObservedPush {
  readonly token: string;
  readonly badge: number;
  readonly collapseId: string;
  readonly topic?: string;
}

export interface ContractSubject<P> {
  readonly sender: PushSender<P>;
  /** Every push that has left the sender so far, in order. */
  observed(): Promise<readonly ObservedPush[]>;
  /** Frees whatever `setup` made besides the sender (servers, children). */
  teardown(): Promise<void>;
}

/** How one platform's pushes are made, and what of them is observed. */
export interface PushShape<P> {
  /** A well-formed push to a fresh token. */
  push(overrides?: { readonly badge?: number; readonly collapseId?: string }): P;
  /** What must be observed of `push` once it was sent. */
  observedOf(push: P): ObservedPush;
  /** Well-formed pushes that must all be served (APNs: both environments), with a label. */
  variants(): ReadonlyArray<readonly [string, P]>;
  /** Pushes whose token is malformed, and what they all become without leaving the sender. */
  badTokens(): readonly P[];
  readonly badTokenResult: SendResult;
  /** Pushes malformed otherwise, with the reason of their `failed`. */
  malformed(): ReadonlyArray<readonly [P, string]>;
  /** A push whose collapse id is as long as allowed. */
  longestCollapseId(): P;
}

let tokenSeed = 0;
/** A fresh 32-byte hex device token. */
export function deviceToken(): string {
  tokenSeed += 1;
  return tokenSeed.toString(16).padStart(8, '0').repeat(8);
}

/** A fresh FCM registration token (the shape of real ones: an id, a colon, a long base64url tail). */
export function fcmToken(): string {
  tokenSeed += 1;
  return `d${tokenSeed.toString(36).padStart(10, '0')}:APA91b${'Xy_-'.repeat(36)}`;
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

export function fcmPush(overrides: Partial<FcmBadgePush> = {}): FcmBadgePush {
  return {
    platform: 'fcm',
    device: 'pixel-1' as DeviceId,
    fcmToken: fcmToken(),
    badge: 7,
    collapseKey: 'badge',
    ...overrides,
  };
}

const BAD_BADGES = [-1, 1.5, Number.NaN, 2 ** 31] as const;

export const APNS_SHAPE: PushShape<BadgePush> = {
  push: (overrides = {}) => badgePush({ ...overrides, topic: 'com.example.chat' }),
  observedOf: (push) => ({ token: push.apnsToken, topic: push.topic, badge: push.badge, collapseId: push.collapseId }),
  variants: () => (['production', 'sandbox'] as const).map((environment) => [environment, badgePush({ environment })]),
  badTokens: () => ['', 'xyz', 'abc', `${'ab'.repeat(32)}/..`].map((apnsToken) => badgePush({ apnsToken })),
  badTokenResult: { kind: 'invalid-token', reason: 'BadDeviceToken' },
  malformed: () => [
    ...BAD_BADGES.map((badge) => [badgePush({ badge }), 'BadBadge'] as const),
    [badgePush({ collapseId: '' }), 'BadCollapseId'],
    [badgePush({ collapseId: 'x'.repeat(MAX_COLLAPSE_ID_BYTES + 1) }), 'BadCollapseId'],
    [badgePush({ collapseId: 'é'.repeat(MAX_COLLAPSE_ID_BYTES / 2 + 1) }), 'BadCollapseId'],
    [badgePush({ topic: '' }), 'MissingTopic'],
    [badgePush({ environment: 'staging' as BadgePush['environment'] }), 'BadEnvironment'],
  ],
  longestCollapseId: () => badgePush({ collapseId: 'c'.repeat(MAX_COLLAPSE_ID_BYTES) }),
};

export const FCM_SHAPE: PushShape<FcmBadgePush> = {
  push: (overrides = {}) =>
    fcmPush({
      ...(overrides.badge === undefined ? {} : { badge: overrides.badge }),
      ...(overrides.collapseId === undefined ? {} : { collapseKey: overrides.collapseId }),
    }),
  observedOf: (push) => ({ token: push.fcmToken, badge: push.badge, collapseId: push.collapseKey }),
  variants: () => [['data message', fcmPush()]],
  badTokens: () => ['', 'has space', 'slash/../x', 'é'].map((token) => fcmPush({ fcmToken: token })),
  badTokenResult: { kind: 'invalid-token', reason: 'INVALID_ARGUMENT' },
  malformed: () => [
    ...BAD_BADGES.map((badge) => [fcmPush({ badge }), 'BadBadge'] as const),
    [fcmPush({ collapseKey: '' }), 'BadCollapseId'],
    [fcmPush({ collapseKey: 'x'.repeat(MAX_COLLAPSE_ID_BYTES + 1) }), 'BadCollapseId'],
  ],
  longestCollapseId: () => fcmPush({ collapseKey: 'c'.repeat(MAX_COLLAPSE_ID_BYTES) }),
};

export function pushSenderContract<P>(
  name: string,
  shape: PushShape<P>,
  setup: () => Promise<ContractSubject<P>>,
): void {
  describe(`PushSender contract: ${name}`, () => {
    let subject: ContractSubject<P>;
    beforeAll(async () => {
      subject = await setup();
    });
    afterAll(async () => {
      await subject.sender.close();
      await subject.teardown();
    });

    const observedFor = async (push: P) => {
      const token = shape.observedOf(push).token;
      return (await subject.observed()).filter((seen) => seen.token === token);
    };

    test('[PUSH-14] a well-formed push is sent, with its token, badge and collapse id (and APNs topic)', async () => {
      const push = shape.push({ badge: 12, collapseId: 'badge.chat' });
      assert.deepEqual(await subject.sender.send(push), { kind: 'sent' });
      assert.deepEqual(await observedFor(push), [shape.observedOf(push)]);
    });

    test('badge 0 is sent: it is how a badge is cleared', async () => {
      const push = shape.push({ badge: 0 });
      assert.deepEqual(await subject.sender.send(push), { kind: 'sent' });
      assert.equal((await observedFor(push))[0]?.badge, 0);
    });

    test('every variant of a well-formed push is served', async () => {
      for (const [label, push] of shape.variants()) {
        assert.deepEqual(await subject.sender.send(push), { kind: 'sent' }, label);
        assert.equal((await observedFor(push)).length, 1, label);
      }
    });

    test('concurrent pushes are each sent once', async () => {
      const pushes = Array.from({ length: 25 }, (_, i) => shape.push({ badge: i }));
      const results = await Promise.all(pushes.map((push) => subject.sender.send(push)));
      assert.ok(results.every((result) => result.kind === 'sent'));
      for (const push of pushes) {
        assert.deepEqual(
          (await observedFor(push)).map((seen) => seen.badge),
          [shape.observedOf(push).badge],
        );
      }
    });

    test('a malformed token is refused as the service would, and never leaves the sender', async () => {
      for (const push of shape.badTokens()) {
        const before = (await subject.observed()).length;
        assert.deepEqual(await subject.sender.send(push), shape.badTokenResult);
        assert.equal((await subject.observed()).length, before, JSON.stringify(push));
      }
    });

    test('a malformed push fails without leaving the sender', async () => {
      const before = (await subject.observed()).length;
      for (const [push, reason] of shape.malformed()) {
        assert.deepEqual(await subject.sender.send(push), { kind: 'failed', reason }, reason);
      }
      assert.equal((await subject.observed()).length, before);
    });

    test('a collapse id of exactly 64 bytes is fine', async () => {
      assert.deepEqual(await subject.sender.send(shape.longestCollapseId()), { kind: 'sent' });
    });

    test('after close, pushes are kept for later (retry) and nothing leaves; close twice is fine', async () => {
      await subject.sender.close();
      await subject.sender.close();
      const before = (await subject.observed()).length;
      assert.deepEqual(await subject.sender.send(shape.push()), { kind: 'retry', reason: SENDER_CLOSED });
      assert.equal((await subject.observed()).length, before);
    });
  });
}

/** One log line a sender wrote. */
export interface LogLine {
  readonly level: PushLogLevel;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly message: string;
}

/** A sender's `log` option that keeps every line, for tests that check what was logged. */
export function logSink() {
  const lines: LogLine[] = [];
  return {
    lines,
    log: (level: PushLogLevel, fields: LogLine['fields'], message: string) => lines.push({ level, fields, message }),
  };
}
