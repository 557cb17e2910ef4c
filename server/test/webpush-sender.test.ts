/**
 * WebPushSender against the test Web Push server, in process (the sender trusts the test CA
 * through its `ca` option): what leaves the sender is decrypted and checked there, and every
 * class of answer becomes the SendResult SPEC PUSH-21 names.
 */
import assert from 'node:assert/strict';
import { createECDH, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { DeviceId } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import webpush from 'web-push';
import { decryptAes128gcm, WebPushAnswers, WebPushTestServer } from '../../test/helpers/webpush-test-server.js';
import { MAX_COLLAPSE_ID_BYTES, type PushLogLevel, type WebPushBadgePush } from '../src/push/push-sender.js';
import { generateVapidKeys } from '../src/push/webpush-keys.js';
import { MAX_RETRY_AFTER_MS, parseRetryAfter, resultOfWebPushAnswer } from '../src/push/webpush-results.js';
import {
  VAPID_JWT_REUSE_MS,
  WEBPUSH_TTL_SECONDS,
  WEBPUSH_URGENCY,
  WebPushSender,
  webPushTopic,
} from '../src/push/webpush-sender.js';
import { endpointAllowed, webPushHosts } from '../src/push/webpush-subscription.js';
import { type ObservedPush, type PushShape, pushSenderContract } from './push-sender-contract.js';

const SUBJECT = 'mailto:ops@example.com';

/** Where the contract's pushes go: the test Web Push server of the suite running now. */
let contractService: WebPushTestServer;
const contractVapid = { ...generateVapidKeys(), subject: SUBJECT };

function webPush(overrides: Partial<WebPushBadgePush> = {}): WebPushBadgePush {
  return {
    platform: 'webpush',
    device: 'tab' as DeviceId,
    subscription: contractService.subscribe(contractVapid.publicKey),
    badge: 7,
    collapseId: 'badge',
    ...overrides,
  };
}

const WEBPUSH_SHAPE: PushShape<WebPushBadgePush> = {
  push: (overrides = {}) =>
    webPush({
      ...(overrides.badge === undefined ? {} : { badge: overrides.badge }),
      ...(overrides.collapseId === undefined ? {} : { collapseId: overrides.collapseId }),
    }),
  // The collapse id arrives as the Topic header it becomes.
  observedOf: (push) => ({
    token: push.subscription.endpoint,
    badge: push.badge,
    collapseId: webPushTopic(push.collapseId),
  }),
  variants: () => [['aes128gcm payload', webPush()]],
  badTokens: () => {
    const good = webPush();
    return [
      {
        ...good,
        subscription: { ...good.subscription, endpoint: good.subscription.endpoint.replace('https:', 'http:') },
      },
      { ...good, subscription: { ...good.subscription, endpoint: 'https://169.254.169.254/latest/meta-data' } },
      { ...good, subscription: { ...good.subscription, keys: { ...good.subscription.keys, p256dh: 'AAAA' } } },
      { ...good, subscription: { ...good.subscription, keys: { ...good.subscription.keys, auth: '' } } },
    ];
  },
  badTokenResult: { kind: 'invalid-token', reason: 'BadSubscription' },
  malformed: () => [
    ...[-1, 1.5, Number.NaN, 2 ** 31].map((badge) => [webPush({ badge }), 'BadBadge'] as const),
    [webPush({ collapseId: '' }), 'BadCollapseId'],
    [webPush({ collapseId: 'x'.repeat(MAX_COLLAPSE_ID_BYTES + 1) }), 'BadCollapseId'],
  ],
  longestCollapseId: () => webPush({ collapseId: 'c'.repeat(MAX_COLLAPSE_ID_BYTES) }),
};

pushSenderContract(
  'WebPushSender (test Web Push server: VAPID checked, payload decrypted)',
  WEBPUSH_SHAPE,
  async () => {
    contractService = await WebPushTestServer.start();
    const service = contractService;
    const sender = new WebPushSender({
      vapid: contractVapid,
      hosts: [service.address],
      ca: await readFile(service.caPath, 'utf8'),
    });
    return {
      sender,
      observed: async () =>
        service.requests
          .filter((r) => r.answer !== null && r.answer.status === 201)
          .map(
            (r): ObservedPush => ({
              token: `${service.origin}${r.path}`,
              badge: (r.payload as { badge: number }).badge,
              collapseId: r.topic ?? '',
            }),
          ),
      teardown: () => service.close(),
    };
  },
);

describe('WebPushSender (test Web Push server)', () => {
  let service: WebPushTestServer;
  let sender: WebPushSender;
  const vapid = { ...generateVapidKeys(), subject: SUBJECT };
  const lines: { level: PushLogLevel; fields: Readonly<Record<string, unknown>>; message: string }[] = [];
  beforeAll(async () => {
    service = await WebPushTestServer.start();
    sender = new WebPushSender({
      vapid,
      hosts: [service.address],
      ca: await readFile(service.caPath, 'utf8'),
      log: (level, fields, message) => lines.push({ level, fields, message }),
    });
  });
  afterAll(async () => {
    await sender?.close();
    await service?.close();
  });

  const message = (subscription: WebPushBadgePush['subscription'], badge: number): WebPushBadgePush => ({
    platform: 'webpush',
    device: 'tab' as DeviceId,
    subscription,
    badge,
    collapseId: 'badge',
  });

  test('[PUSH-20] the badge arrives encrypted aes128gcm for the subscription, VAPID-signed, with Topic, Urgency and TTL', async () => {
    const subscription = service.subscribe(vapid.publicKey);
    assert.deepEqual(await sender.send(message(subscription, 7)), { kind: 'sent' });
    const [request] = service.requestsFor(subscription);
    assert.ok(request !== undefined);
    assert.equal(request.refusal, null);
    assert.equal(request.plaintext, '{"badge":7}');
    assert.equal(request.headers['content-encoding'], 'aes128gcm');
    assert.equal(request.topic, 'badge');
    assert.equal(request.urgency, WEBPUSH_URGENCY);
    assert.equal(request.ttl, WEBPUSH_TTL_SECONDS);
    assert.equal(request.vapidKey, vapid.publicKey);
    assert.equal(request.vapidClaims?.aud, service.origin);
    assert.equal(request.vapidClaims?.sub, SUBJECT);
    assert.ok(!request.body.includes('badge'), 'the body on the wire is not the plaintext');
  });

  test('[PUSH-20] badge 0 is sent (it clears the badge); concurrent pushes each arrive once', async () => {
    const subscriptions = Array.from({ length: 10 }, () => service.subscribe(vapid.publicKey));
    const results = await Promise.all(subscriptions.map((s, i) => sender.send(message(s, i))));
    assert.ok(results.every((r) => r.kind === 'sent'));
    for (const [i, s] of subscriptions.entries()) assert.deepEqual(service.delivered(s), [i]);
  });

  test('[PUSH-20] a subscription made with another VAPID key is refused by the service: provider-token, logged', async () => {
    const subscription = service.subscribe(generateVapidKeys().publicKey);
    const result = await sender.send(message(subscription, 1));
    assert.deepEqual(result, { kind: 'provider-token', reason: 'HTTP 403' });
    assert.equal(service.requestsFor(subscription)[0]?.refusal, 'VapidKeyMismatch');
    assert.ok(lines.some((l) => l.level === 'error' && /VAPID/.test(l.message)));
  });

  test('[PUSH-21] 404 and 410 drop the subscription; 429 and 503 retry honouring Retry-After; 413 and 400 fail for good', async () => {
    const cases = [
      [WebPushAnswers.notFound, { kind: 'invalid-token', reason: 'SubscriptionNotFound' }],
      [WebPushAnswers.gone, { kind: 'invalid-token', reason: 'SubscriptionGone' }],
      [WebPushAnswers.tooManyRequests('7'), { kind: 'retry', reason: 'TooManyRequests', retryAfterMs: 7000 }],
      [WebPushAnswers.unavailable('2'), { kind: 'retry', reason: 'HTTP 503', retryAfterMs: 2000 }],
      [WebPushAnswers.unavailable(), { kind: 'retry', reason: 'HTTP 503' }],
      [WebPushAnswers.tooLarge, { kind: 'failed', reason: 'PayloadTooLarge' }],
      [WebPushAnswers.badRequest, { kind: 'failed', reason: 'HTTP 400' }],
    ] as const;
    for (const [answer, expected] of cases) {
      const subscription = service.subscribe(vapid.publicKey);
      service.enqueue(subscription, answer);
      assert.deepEqual(await sender.send(message(subscription, 3)), expected, JSON.stringify(answer));
    }
    assert.ok(
      lines.some((l) => l.level === 'warn' && /for good/.test(l.message)),
      'permanent refusals are logged',
    );
  });

  test('[PUSH-22] endpoints off the allowed hosts, or malformed keys, never leave the sender', async () => {
    const good = service.subscribe(vapid.publicKey);
    const before = service.requests.length;
    const bad = [
      { ...good, endpoint: good.endpoint.replace('https:', 'http:') },
      { ...good, endpoint: 'https://169.254.169.254/latest/meta-data' },
      { ...good, keys: { ...good.keys, p256dh: 'AAAA' } },
      { ...good, keys: { ...good.keys, auth: '' } },
    ];
    for (const subscription of bad) {
      assert.deepEqual(await sender.send(message(subscription, 1)), {
        kind: 'invalid-token',
        reason: 'BadSubscription',
      });
    }
    assert.deepEqual(await sender.send(message(good, -1)), { kind: 'failed', reason: 'BadBadge' });
    assert.deepEqual(await sender.send({ ...message(good, 1), collapseId: '' }), {
      kind: 'failed',
      reason: 'BadCollapseId',
    });
    assert.equal(service.requests.length, before);
  });

  test('[PUSH-20] one VAPID JWT per push service origin, signed again after an hour', async () => {
    let clock = Date.now();
    const timed = new WebPushSender({
      vapid,
      hosts: [service.address],
      ca: await readFile(service.caPath, 'utf8'),
      now: () => clock,
    });
    const subscriptions = [service.subscribe(vapid.publicKey), service.subscribe(vapid.publicKey)];
    for (const s of subscriptions) assert.deepEqual(await timed.send(message(s, 1)), { kind: 'sent' });
    clock += VAPID_JWT_REUSE_MS + 1;
    assert.deepEqual(await timed.send(message(subscriptions[0] as WebPushBadgePush['subscription'], 2)), {
      kind: 'sent',
    });
    await timed.close();
    const ids = subscriptions.map((s) => service.idOf(s));
    const jwts = service.requests.filter((r) => ids.includes(r.subscriptionId)).map((r) => r.headers.authorization);
    assert.equal(jwts.length, 3);
    assert.equal(jwts[0], jwts[1], 'reused within the hour');
    assert.notEqual(jwts[2], jwts[0], 'signed again after it');
  });

  test('a refused connection is retried', async () => {
    const closed = await WebPushTestServer.start();
    const subscription = closed.subscribe(vapid.publicKey);
    await closed.close();
    const other = new WebPushSender({ vapid, hosts: [closed.address] });
    const result = await other.send(message(subscription, 1));
    await other.close();
    assert.deepEqual(result, { kind: 'retry', reason: 'Network: ECONNREFUSED' });
  });
});

describe('Web Push pure parts', () => {
  test('[PUSH-20] the test service decrypts what web-push encrypts, and only with the right keys', () => {
    const ua = createECDH('prime256v1');
    ua.generateKeys();
    const auth = randomBytes(16);
    const encrypted = webpush.encrypt(
      ua.getPublicKey().toString('base64url'),
      auth.toString('base64url'),
      '{"badge":5}',
      'aes128gcm',
    );
    assert.equal(decryptAes128gcm(encrypted.cipherText, ua, auth).toString(), '{"badge":5}');
    assert.throws(() => decryptAes128gcm(encrypted.cipherText, ua, randomBytes(16)));
    const other = createECDH('prime256v1');
    other.generateKeys();
    assert.throws(() => decryptAes128gcm(encrypted.cipherText, other, auth));
  });

  test('[PUSH-20] the Topic is the collapse id when it is one, else 32 URL-safe characters of its hash', () => {
    assert.equal(webPushTopic('badge'), 'badge');
    const long = webPushTopic('badge.com.example.mail.and-more-than-32-characters');
    assert.match(long, /^[A-Za-z0-9_-]{32}$/);
    assert.notEqual(webPushTopic('a b'), webPushTopic('a c'));
  });

  test('[PUSH-21] Retry-After in seconds or as a date, capped at an hour', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('30', now), 30_000);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000);
    assert.equal(parseRetryAfter('999999', now), MAX_RETRY_AFTER_MS);
    assert.equal(parseRetryAfter('soon', now), null);
    assert.equal(parseRetryAfter(undefined, now), null);
    assert.deepEqual(resultOfWebPushAnswer(201, undefined, now), { kind: 'sent' });
    assert.deepEqual(resultOfWebPushAnswer(502, undefined, now), { kind: 'retry', reason: 'HTTP 502' });
  });

  test('[PUSH-22] allowed hosts: exact, with a port, or a subdomain pattern; https only', () => {
    const hosts = webPushHosts(null);
    assert.ok(endpointAllowed('https://fcm.googleapis.com/fcm/send/abc', hosts));
    assert.ok(endpointAllowed('https://updates.push.services.mozilla.com/wpush/v2/x', hosts));
    assert.ok(endpointAllowed('https://wns2-by3p.notify.windows.com/w/?token=x', hosts));
    assert.ok(endpointAllowed('https://web.push.apple.com/QGx', hosts));
    assert.ok(!endpointAllowed('http://fcm.googleapis.com/fcm/send/abc', hosts));
    assert.ok(!endpointAllowed('https://fcm.googleapis.com:8443/x', hosts));
    assert.ok(!endpointAllowed('https://evil-notify.windows.com.example/x', hosts));
    assert.ok(!endpointAllowed('https://127.0.0.1/x', hosts));
    assert.ok(!endpointAllowed('https://user:pw@fcm.googleapis.com/x', hosts));
    const local = webPushHosts('127.0.0.1:8443, Push.Example.com');
    assert.ok(endpointAllowed('https://127.0.0.1:8443/push/1', local));
    assert.ok(!endpointAllowed('https://127.0.0.1:8444/push/1', local));
    assert.ok(endpointAllowed('https://push.example.com/x', local));
  });
});
