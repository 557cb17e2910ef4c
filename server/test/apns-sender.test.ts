/**
 * ApnsSender end to end: a child process trusting the test CA through NODE_EXTRA_CA_CERTS
 * (as a deployment would) sends to the test APNs server, which checks the provider token and
 * headers like Apple and answers as scripted.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsAnswers, type ApnsRequestRecord, ApnsTestServer } from '../../test/helpers/apns-test-server.js';
import { BADGE_STORE_FOR_MS } from '../src/push/apns-sender.js';
import { PROVIDER_TOKEN_MIN_REFRESH_MS } from '../src/push/provider-token.js';
import { ChildApnsSender, killAllChildSenders } from './apns-child-sender.js';
import { badgePush } from './push-sender-contract.js';

/**
 * 1 s: short enough to keep the timeout test quick, long enough that a local answer on a
 * loaded CI machine never hits it (they take a few ms).
 */
const TEST_REQUEST_TIMEOUT_MS = 1_000;

afterAll(killAllChildSenders);

describe('ApnsSender: requests and answers', () => {
  let server: ApnsTestServer;
  let sender: ChildApnsSender;
  beforeAll(async () => {
    server = await ApnsTestServer.start();
    sender = await ChildApnsSender.start({ server, requestTimeoutMs: TEST_REQUEST_TIMEOUT_MS });
  });
  afterAll(async () => {
    await sender.stop();
    await server.close();
  });

  const only = (token: string): ApnsRequestRecord => {
    const requests = server.requestsFor(token);
    assert.equal(requests.length, 1, `requests for ${token}`);
    return requests[0] as ApnsRequestRecord;
  };

  test('a badge-only alert push: aps.badge only, collapse id, topic, priority 10, 28-day expiry', async () => {
    const push = badgePush({ badge: 42, topic: 'com.example.mail', collapseId: 'badge' });
    const sentAt = Date.now();
    assert.deepEqual(await sender.send(push), { kind: 'sent' });
    const request = only(push.apnsToken);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/3/device/${push.apnsToken}`);
    assert.deepEqual(request.payload, { aps: { badge: 42 } });
    assert.equal(request.headers['apns-push-type'], 'alert');
    assert.equal(request.headers['apns-topic'], 'com.example.mail');
    assert.equal(request.headers['apns-collapse-id'], 'badge');
    // apns2 leaves the header out for priority 10, which is APNs's default.
    assert.equal(request.headers['apns-priority'], undefined);
    const expiresAt = Number(request.headers['apns-expiration']) * 1000;
    assert.ok(Math.abs(expiresAt - (sentAt + BADGE_STORE_FOR_MS)) < 5_000, `expiry ${expiresAt}`);
  });

  test('the provider token: ES256, kid = key id, iss = team id, iat = now', async () => {
    const push = badgePush();
    await sender.send(push);
    const { jwt } = only(push.apnsToken);
    assert.deepEqual(jwt?.header, { alg: 'ES256', kid: server.keyId });
    assert.equal(jwt?.claims.iss, server.teamId);
    assert.ok(Math.abs(Number(jwt?.claims.iat) - Date.now() / 1000) < 5);
  });

  test('one provider token for many pushes', async () => {
    const pushes = Array.from({ length: 5 }, () => badgePush());
    await Promise.all(pushes.map((push) => sender.send(push)));
    const tokens = new Set(pushes.map((push) => only(push.apnsToken).jwt?.raw));
    assert.equal(tokens.size, 1);
  });

  test('410 Unregistered → invalid-token with the timestamp', async () => {
    const push = badgePush();
    server.enqueue(push.apnsToken, ApnsAnswers.unregistered(1_700_000_000_123));
    assert.deepEqual(await sender.send(push), {
      kind: 'invalid-token',
      reason: 'Unregistered',
      timestamp: 1_700_000_000_123,
    });
  });

  test('400 BadDeviceToken and DeviceTokenNotForTopic → invalid-token, no timestamp', async () => {
    for (const answer of [ApnsAnswers.badDeviceToken, ApnsAnswers.deviceTokenNotForTopic]) {
      const push = badgePush();
      server.enqueue(push.apnsToken, answer);
      assert.deepEqual(await sender.send(push), { kind: 'invalid-token', reason: answer.reason });
    }
  });

  test('429 and 5xx → retry with the reason', async () => {
    for (const answer of [
      ApnsAnswers.tooManyRequests,
      ApnsAnswers.tooManyProviderTokenUpdates,
      ApnsAnswers.internalServerError,
      ApnsAnswers.serviceUnavailable,
    ]) {
      const push = badgePush();
      server.enqueue(push.apnsToken, answer);
      assert.deepEqual(await sender.send(push), { kind: 'retry', reason: answer.reason });
    }
  });

  test('a 5xx without a JSON body → retry', async () => {
    const push = badgePush();
    server.enqueue(push.apnsToken, { status: 502, reason: '' });
    assert.equal((await sender.send(push)).kind, 'retry');
  });

  test('another 4xx → failed with the reason', async () => {
    const push = badgePush();
    server.enqueue(push.apnsToken, ApnsAnswers.payloadTooLarge);
    assert.deepEqual(await sender.send(push), { kind: 'failed', reason: 'PayloadTooLarge' });
  });

  test('403 InvalidProviderToken → provider-token, logged loudly once a minute', async () => {
    const tokens = [badgePush(), badgePush()];
    for (const push of tokens) {
      server.enqueue(push.apnsToken, ApnsAnswers.invalidProviderToken);
      assert.deepEqual(await sender.send(push), { kind: 'provider-token', reason: 'InvalidProviderToken' });
    }
    const loud = sender.logs.filter((line) => line.level === 'error' && line.message.includes('InvalidProviderToken'));
    assert.equal(loud.length, 1);
    assert.equal(loud[0]?.fields.keyId, server.keyId);
  });

  test('no answer within the request timeout → retry Timeout; the connection stays usable', async () => {
    const slow = badgePush();
    server.enqueue(slow.apnsToken, ApnsAnswers.slow(TEST_REQUEST_TIMEOUT_MS * 5));
    const started = Date.now();
    assert.deepEqual(await sender.send(slow), { kind: 'retry', reason: 'Timeout' });
    assert.ok(Date.now() - started < TEST_REQUEST_TIMEOUT_MS * 4);
    await server.waitFor(() => only(slow.apnsToken).answer !== null, TEST_REQUEST_TIMEOUT_MS * 10);
    assert.deepEqual(only(slow.apnsToken).answer, { cancelled: true });
    const next = badgePush();
    assert.deepEqual(await sender.send(next), { kind: 'sent' });
  });

  test('an answer slower than usual but inside the timeout is still sent', async () => {
    const push = badgePush();
    server.enqueue(push.apnsToken, ApnsAnswers.slow(TEST_REQUEST_TIMEOUT_MS / 4));
    assert.deepEqual(await sender.send(push), { kind: 'sent' });
  });

  test('every push above, answered well or badly, went over one HTTP/2 connection', () => {
    assert.ok(server.requests.length > 15);
    assert.equal(server.sessionsOpened, 1);
    assert.equal(server.sessionsOpen, 1);
    assert.ok(server.requests.every((request) => request.session === 1));
  });

  test('close lets a push in flight finish', async () => {
    const push = badgePush();
    server.enqueue(push.apnsToken, ApnsAnswers.slow(TEST_REQUEST_TIMEOUT_MS / 2));
    const sending = sender.send(push);
    await server.waitFor(
      () => server.requestsFor(push.apnsToken).length === 1,
      undefined,
      () => 'the push to arrive',
    );
    await sender.close();
    assert.deepEqual(await sending, { kind: 'sent' });
    await server.waitFor(
      () => server.sessionsOpen === 0,
      undefined,
      () => `the connection to close (${server.sessionsOpen} open)`,
    );
  });
});

describe('ApnsSender: GOAWAY', () => {
  test('after APNs sends GOAWAY, the next push opens a new connection and is sent', async () => {
    const server = await ApnsTestServer.start();
    const sender = await ChildApnsSender.start({ server });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'sent' });
      server.goAway('IdleTimeout');
      await server.waitFor(
        () => server.sessionsOpen === 0,
        undefined,
        () => 'the connection to close',
      );
      assert.deepEqual(await sender.send(badgePush()), { kind: 'sent' });
      assert.equal(server.sessionsOpened, 2);
    } finally {
      await sender.stop();
      await server.close();
    }
  });
});

describe('ApnsSender: connection drop', () => {
  test('a connection lost mid-push → retry with the network error; the next push reconnects', async () => {
    const server = await ApnsTestServer.start();
    const sender = await ChildApnsSender.start({ server });
    try {
      const push = badgePush();
      server.enqueue(push.apnsToken, ApnsAnswers.slow(5_000));
      const sending = sender.send(push);
      await server.waitFor(
        () => server.requestsFor(push.apnsToken).length === 1,
        undefined,
        () => 'the push to arrive',
      );
      server.disconnect();
      const result = await sending;
      assert.equal(result.kind, 'retry');
      assert.match(result.kind === 'retry' ? result.reason : '', /^Network: /);
      assert.deepEqual(await sender.send(badgePush()), { kind: 'sent' });
      assert.equal(server.sessionsOpened, 2);
    } finally {
      await sender.stop();
      await server.close();
    }
  });
});

describe('ApnsSender: environments', () => {
  test('production and sandbox each keep their own connection to the configured host', async () => {
    const server = await ApnsTestServer.start();
    const sender = await ChildApnsSender.start({ server });
    try {
      for (let i = 0; i < 3; i += 1) {
        assert.deepEqual(await sender.send(badgePush({ environment: 'production' })), { kind: 'sent' });
        assert.deepEqual(await sender.send(badgePush({ environment: 'sandbox' })), { kind: 'sent' });
      }
      assert.equal(server.sessionsOpened, 2);
    } finally {
      await sender.stop();
      await server.close();
    }
  });
});

describe('ApnsSender: provider token', () => {
  let server: ApnsTestServer;
  beforeAll(async () => {
    server = await ApnsTestServer.start();
  });
  afterAll(() => server.close());

  test('ExpiredProviderToken → a new token, then the same push once more → sent', async () => {
    // The first token is minted 25 minutes "ago" (over Apple's 20-minute floor), then the
    // clock catches up; APNs calls that token expired once.
    const sender = await ChildApnsSender.start({ server, clockOffsetMs: -25 * 60_000 });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'sent' });
      await sender.setClockOffset(0);
      const push = badgePush();
      server.enqueue(push.apnsToken, ApnsAnswers.expiredProviderToken);
      assert.deepEqual(await sender.send(push), { kind: 'sent' });
      const [refused, retried] = server.requestsFor(push.apnsToken);
      assert.equal(
        refused?.answer && 'status' in refused.answer ? refused.answer.reason : null,
        'ExpiredProviderToken',
      );
      assert.notEqual(retried?.jwt?.raw, refused?.jwt?.raw);
      assert.ok(Number(retried?.jwt?.claims.iat) - Number(refused?.jwt?.claims.iat) >= 25 * 60 - 5);
      assert.equal(server.requestsFor(push.apnsToken).length, 2);
    } finally {
      await sender.stop();
    }
  });

  test('a burst refused as expired renews the token once, not once per push', async () => {
    const sender = await ChildApnsSender.start({ server, clockOffsetMs: -25 * 60_000 });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'sent' });
      await sender.setClockOffset(0);
      const pushes = Array.from({ length: 8 }, () => badgePush());
      for (const push of pushes) {
        server.enqueue(push.apnsToken, ApnsAnswers.expiredProviderToken);
      }
      const results = await Promise.all(pushes.map((push) => sender.send(push)));
      assert.ok(results.every((result) => result.kind === 'sent'));
      const retriedWith = new Set(pushes.map((push) => server.requestsFor(push.apnsToken)[1]?.jwt?.raw));
      assert.equal(retriedWith.size, 1);
    } finally {
      await sender.stop();
    }
  });

  test(`ExpiredProviderToken for a token under ${PROVIDER_TOKEN_MIN_REFRESH_MS / 60_000} min old → provider-token, no new token, a clock hint`, async () => {
    const sender = await ChildApnsSender.start({ server });
    try {
      const push = badgePush();
      server.enqueue(push.apnsToken, ApnsAnswers.expiredProviderToken);
      assert.deepEqual(await sender.send(push), { kind: 'provider-token', reason: 'ExpiredProviderToken' });
      assert.equal(server.requestsFor(push.apnsToken).length, 1);
      assert.ok(sender.logs.some((line) => line.level === 'error' && /clock/.test(line.message)));
    } finally {
      await sender.stop();
    }
  });

  test('a wrong key id → provider-token InvalidProviderToken, checked by the server', async () => {
    const sender = await ChildApnsSender.start({ server, keyId: 'WRONGKEY00' });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'provider-token', reason: 'InvalidProviderToken' });
    } finally {
      await sender.stop();
    }
  });

  test('a wrong team id → provider-token InvalidProviderToken', async () => {
    const sender = await ChildApnsSender.start({ server, teamId: 'WRONGTEAM0' });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'provider-token', reason: 'InvalidProviderToken' });
    } finally {
      await sender.stop();
    }
  });

  test('a key the server does not know (right key id) → provider-token InvalidProviderToken', async () => {
    const keyFile = path.join(path.dirname(server.keyPath), 'AuthKey_OTHER.p8');
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const sender = await ChildApnsSender.start({ server, keyFile });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'provider-token', reason: 'InvalidProviderToken' });
      assert.ok(sender.logs.some((line) => line.level === 'error' && /BADGESYNC_APNS_KEY_FILE/.test(line.message)));
    } finally {
      await sender.stop();
    }
  });
});

describe('ApnsSender: trusting the private CA', () => {
  test('without NODE_EXTRA_CA_CERTS the certificate is refused: retry, a loud TLS log, no request', async () => {
    const server = await ApnsTestServer.start();
    const sender = await ChildApnsSender.start({ server, trustTestCa: false });
    try {
      const result = await sender.send(badgePush());
      assert.equal(result.kind, 'retry');
      assert.match(result.kind === 'retry' ? result.reason : '', /^TLS: /);
      assert.ok(sender.logs.some((line) => line.level === 'error' && /NODE_EXTRA_CA_CERTS/.test(line.message)));
      assert.equal(server.requests.length, 0);
    } finally {
      await sender.stop();
      await server.close();
    }
  });

  test('nothing listening at the configured host → retry with the network error', async () => {
    const gone = await ApnsTestServer.start();
    const address = gone.address;
    await gone.close();
    const server = await ApnsTestServer.start();
    const sender = await ChildApnsSender.start({ server, host: address });
    try {
      assert.deepEqual(await sender.send(badgePush()), { kind: 'retry', reason: 'Network: ECONNREFUSED' });
    } finally {
      await sender.stop();
      await server.close();
    }
  });
});
