/**
 * FCM HTTP v1 (SPEC PUSH-14, PUSH-15): the PushSender contract for FcmSender against the test
 * FCM server (which mints access tokens only for a correctly signed service-account assertion)
 * and for the logging sender used without a service account; then the message FCM receives,
 * what each FCM answer becomes, and how access tokens are fetched, cached and renewed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, test } from 'vitest';
import { FcmAnswers, FcmTestServer } from '../../test/helpers/fcm-test-server.js';
import { createPlatformSenders } from '../src/push/create-platform-senders.js';
import { checkFcmPush } from '../src/push/fcm-message.js';
import { retryAfterMs } from '../src/push/fcm-results.js';
import { FcmSender } from '../src/push/fcm-sender.js';
import { UnconfiguredSender } from '../src/push/unconfigured-sender.js';
import { FCM_SHAPE, fcmPush, logSink, type ObservedPush, pushSenderContract } from './push-sender-contract.js';

function observedAt(server: FcmTestServer): ObservedPush[] {
  return server.requests
    .filter((request) => request.status === 200)
    .map((request) => {
      const { message } = request.body as {
        message: { token: string; data: { badge: string }; android: { collapse_key: string } };
      };
      return { token: message.token, badge: Number(message.data.badge), collapseId: message.android.collapse_key };
    });
}

pushSenderContract('FcmSender (test FCM server, service-account OAuth)', FCM_SHAPE, async () => {
  const server = await FcmTestServer.start();
  const sender = await FcmSender.fromKeyFile(server.keyPath, { baseUrl: server.baseUrl, log: logSink().log });
  return { sender, observed: async () => observedAt(server), teardown: () => server.close() };
});

pushSenderContract('UnconfiguredSender for FCM (no service account: logged)', FCM_SHAPE, async () => {
  const sink = logSink();
  const senders = await createPlatformSenders(
    { apnsKeyFile: null, apnsKeyId: null, apnsTeamId: null, apnsHost: null, fcmServiceAccount: null, fcmUrl: null },
    sink.log,
  );
  return {
    sender: senders.senders.fcm,
    observed: async () =>
      sink.lines
        .filter((line) => line.fields.platform === 'fcm')
        .map(({ fields }) => ({
          token: String(fields.fcmToken),
          badge: Number(fields.badge),
          collapseId: String(fields.collapseKey),
        })),
    teardown: async () => {},
  };
});

describe('FcmSender against the test FCM server', () => {
  let server: FcmTestServer;
  let sender: FcmSender;
  let sink: ReturnType<typeof logSink>;
  beforeAll(async () => {
    server = await FcmTestServer.start();
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(async () => {
    server.resetAnswers();
    server.refuseTokens(null);
    sink = logSink();
    await sender?.close();
    sender = await FcmSender.fromKeyFile(server.keyPath, { baseUrl: server.baseUrl, log: sink.log });
  });

  test('[PUSH-15] a data message with the badge as a string, collapse key, NORMAL priority and a 28-day TTL', async () => {
    const push = fcmPush({ badge: 42 });
    assert.deepEqual(await sender.send(push), { kind: 'sent' });
    const [request] = server.requestsFor(push.fcmToken);
    assert.equal(request?.project, 'badgesync-test');
    assert.ok(request?.bearer !== null && server.tokensMinted.includes(request?.bearer ?? ''), 'a minted bearer token');
    assert.deepEqual(request?.body, {
      message: {
        token: push.fcmToken,
        data: { badge: '42' },
        android: { collapse_key: 'badge', priority: 'NORMAL', ttl: '2419200s' },
      },
    });
  });

  test('[PUSH-15] with a visible notification, notification_count is the badge', async () => {
    const push = fcmPush({ badge: 5, notification: { title: 'Mail', body: '5 unread' } });
    assert.deepEqual(await sender.send(push), { kind: 'sent' });
    const body = server.requestsFor(push.fcmToken)[0]?.body as { message: { android: { notification: unknown } } };
    assert.deepEqual(body.message.android.notification, { title: 'Mail', body: '5 unread', notification_count: 5 });
  });

  test('[PUSH-15] UNREGISTERED (404), INVALID_ARGUMENT about the token and SENDER_ID_MISMATCH drop the token', async () => {
    const cases = [
      [FcmAnswers.unregistered, 'UNREGISTERED'],
      [{ status: 404 }, 'UNREGISTERED'],
      [FcmAnswers.invalidToken, 'INVALID_ARGUMENT'],
      [FcmAnswers.senderIdMismatch, 'SENDER_ID_MISMATCH'],
    ] as const;
    for (const [answer, reason] of cases) {
      const push = fcmPush();
      server.enqueue(push.fcmToken, answer);
      assert.deepEqual(await sender.send(push), { kind: 'invalid-token', reason }, reason);
    }
  });

  test('[PUSH-15] an INVALID_ARGUMENT about something else fails the push but keeps the token', async () => {
    const push = fcmPush();
    server.enqueue(push.fcmToken, {
      ...FcmAnswers.invalidToken,
      field: 'message.android.ttl',
      message: 'Invalid duration',
    });
    assert.deepEqual(await sender.send(push), { kind: 'failed', reason: 'INVALID_ARGUMENT' });
  });

  test('[PUSH-15] 429 and 503 retry, no sooner than Retry-After (seconds or a date)', async () => {
    const cases = [
      [FcmAnswers.quotaExceeded('30'), { kind: 'retry', reason: 'QUOTA_EXCEEDED', retryAfterMs: 30_000 }],
      [FcmAnswers.unavailable('7'), { kind: 'retry', reason: 'UNAVAILABLE', retryAfterMs: 7_000 }],
      [FcmAnswers.unavailable(), { kind: 'retry', reason: 'UNAVAILABLE' }],
      [FcmAnswers.internal, { kind: 'retry', reason: 'INTERNAL' }],
    ] as const;
    for (const [answer, result] of cases) {
      const push = fcmPush();
      server.enqueue(push.fcmToken, answer);
      assert.deepEqual(await sender.send(push), result, answer.message);
    }
    const date = new Date(Date.now() + 120_000).toUTCString();
    const after = retryAfterMs(date) ?? 0;
    assert.ok(after > 110_000 && after <= 120_000, String(after));
    assert.equal(retryAfterMs('86400'), 3_600_000, 'capped at an hour');
    assert.equal(retryAfterMs('soon'), undefined);
  });

  test('[PUSH-15] access tokens are minted once and shared: 25 concurrent pushes, one token', async () => {
    const before = server.tokensMinted.length;
    const results = await Promise.all(Array.from({ length: 25 }, () => sender.send(fcmPush())));
    assert.ok(results.every((r) => r.kind === 'sent'));
    assert.equal(server.tokensMinted.length - before, 1);
    assert.ok(
      server.tokenRequests.every((r) => r.refused === null),
      'every assertion was accepted',
    );
  });

  test('[PUSH-15] a 401 (token expired or revoked) renews the access token once and sends again', async () => {
    assert.deepEqual(await sender.send(fcmPush()), { kind: 'sent' });
    const minted = server.tokensMinted.length;
    server.expireTokens();
    const pushes = Array.from({ length: 5 }, () => fcmPush());
    const results = await Promise.all(pushes.map((push) => sender.send(push)));
    assert.ok(
      results.every((r) => r.kind === 'sent'),
      JSON.stringify(results),
    );
    assert.equal(server.tokensMinted.length - minted, 1, 'one new token for the burst of 401s');
    for (const push of pushes) assert.deepEqual(server.badgesFor(push.fcmToken), [7]);
  });

  test('[PUSH-15] FCM refusing the renewed token too is a credentials error, logged once', async () => {
    const push = fcmPush();
    server.enqueue(push.fcmToken, FcmAnswers.unauthenticated, FcmAnswers.unauthenticated);
    assert.deepEqual(await sender.send(push), { kind: 'provider-token', reason: 'UNAUTHENTICATED' });
    const second = fcmPush();
    server.enqueue(second.fcmToken, FcmAnswers.permissionDenied);
    assert.deepEqual(await sender.send(second), { kind: 'provider-token', reason: 'PERMISSION_DENIED' });
    assert.equal(sink.lines.filter((l) => l.level === 'error').length, 2, 'once per reason');
  });

  test('[PUSH-15] a token endpoint refusing the key is a credentials error; nothing reaches FCM', async () => {
    server.refuseTokens('Invalid JWT Signature.');
    const before = server.requests.length;
    assert.deepEqual(await sender.send(fcmPush()), { kind: 'provider-token', reason: 'OAuth 400' });
    assert.equal(server.requests.length, before);
  });

  test('[PUSH-15] FCM unreachable: retry with the network error', async () => {
    const port = await closedPort();
    const down = await FcmSender.fromKeyFile(server.keyPath, { baseUrl: `http://127.0.0.1:${port}`, log: sink.log });
    assert.deepEqual(await down.send(fcmPush()), { kind: 'retry', reason: 'Network: ECONNREFUSED' });
    await down.close();
  });

  test('[PUSH-15] a key signed by another key is refused by the token endpoint', async () => {
    const other = await FcmTestServer.start();
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-fcm-key-'));
    try {
      const keyFile = path.join(dir, 'key.json');
      // The other server's private key, with this server's account and token endpoint.
      await writeFile(
        keyFile,
        JSON.stringify({ ...server.serviceAccount, private_key: other.serviceAccount.private_key }),
      );
      const forged = await FcmSender.fromKeyFile(keyFile, { baseUrl: server.baseUrl, log: sink.log });
      assert.deepEqual(await forged.send(fcmPush()), { kind: 'provider-token', reason: 'OAuth 400' });
      assert.equal(server.tokenRequests.at(-1)?.refused, 'Invalid JWT Signature.');
      await forged.close();
    } finally {
      await other.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('createPlatformSenders', () => {
  const base = { apnsKeyFile: null, apnsKeyId: null, apnsTeamId: null, apnsHost: null, fcmUrl: null };

  test('[PUSH-14] without a service account FCM pushes are logged (a warning at start); with one, FcmSender', async () => {
    const sink = logSink();
    const logged = await createPlatformSenders({ ...base, fcmServiceAccount: null }, sink.log);
    assert.ok(logged.senders.fcm instanceof UnconfiguredSender);
    assert.ok(sink.lines.some((l) => l.level === 'warn' && /BADGESYNC_FCM_SERVICE_ACCOUNT/.test(l.message)));
    await logged.close();
    const server = await FcmTestServer.start();
    try {
      const real = await createPlatformSenders({ ...base, fcmServiceAccount: server.keyPath }, sink.log);
      assert.ok(real.senders.fcm instanceof FcmSender);
      await real.close();
    } finally {
      await server.close();
    }
  });

  test('[PUSH-15] a key file that is no service-account key is refused at start, by field', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-fcm-key-'));
    try {
      const keyFile = path.join(dir, 'key.json');
      await writeFile(keyFile, JSON.stringify({ project_id: 'p', client_email: 'x@p.iam.gserviceaccount.com' }));
      await assert.rejects(
        createPlatformSenders({ ...base, fcmServiceAccount: keyFile }, logSink().log),
        /private_key/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('[PUSH-14] the registry hands each push to its platform’s sender', async () => {
    const sink = logSink();
    const senders = await createPlatformSenders({ ...base, fcmServiceAccount: null }, sink.log);
    await senders.send(fcmPush({ badge: 3 }));
    await senders.send({
      ...fcmPush(),
      platform: 'webpush',
      subscription: { endpoint: 'https://p.example/1', keys: { p256dh: 'x', auth: 'y' } },
      collapseId: 'badge',
    } as never);
    const platforms = sink.lines.filter((l) => l.level === 'info').map((l) => l.fields.platform);
    assert.deepEqual(platforms, ['fcm', 'webpush']);
    assert.equal(checkFcmPush(fcmPush()), null);
    await senders.close();
  });
});

/** A port nothing listens on: one the system just handed out and was closed again. */
async function closedPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
