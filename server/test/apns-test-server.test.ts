/**
 * The test APNs server itself: its TLS, its checks (Apple's answers to bad requests), its
 * scripting and its teardown. Driven by a bare node:http2 client that trusts the test CA
 * explicitly (test code; the product trusts it only through NODE_EXTRA_CA_CERTS).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { ApnsAnswers, ApnsTestServer } from '../../test/helpers/apns-test-server.js';
import { ProviderToken } from '../src/push/provider-token.js';

interface Reply {
  readonly status: number;
  readonly apnsId: string | undefined;
  readonly body: Record<string, unknown> | null;
}

function connect(server: ApnsTestServer, servername?: string): http2.ClientHttp2Session {
  const session = http2.connect(`https://${server.address}`, {
    ca: readFileSync(server.caPath),
    ...(servername === undefined ? {} : { servername }),
  });
  session.on('error', () => {});
  return session;
}

function post(
  session: http2.ClientHttp2Session,
  options: { path?: string; method?: string; headers?: http2.OutgoingHttpHeaders; body?: string },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': options.method ?? 'POST',
      ':path': options.path ?? `/3/device/${'ab'.repeat(32)}`,
      ...options.headers,
    });
    let status = 0;
    let apnsId: string | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
      apnsId = headers['apns-id'] as string | undefined;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status, apnsId, body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>) });
    });
    stream.on('error', reject);
    stream.end(options.body ?? JSON.stringify({ aps: { badge: 1 } }));
  });
}

describe('ApnsTestServer', () => {
  let server: ApnsTestServer;
  let session: http2.ClientHttp2Session;
  let tokens: ProviderToken;
  beforeAll(async () => {
    server = await ApnsTestServer.start({ keyId: 'KEYID00001', teamId: 'TEAMID0001' });
    session = connect(server);
    tokens = new ProviderToken({
      signingKey: readFileSync(server.keyPath, 'utf8'),
      keyId: server.keyId,
      teamId: server.teamId,
    });
  });
  afterAll(async () => {
    session.close();
    await server.close();
  });

  const good = (): http2.OutgoingHttpHeaders => ({
    authorization: `bearer ${tokens.current()}`,
    'apns-topic': 'com.example.app',
    'apns-push-type': 'alert',
  });

  test('a well-formed push: 200, an apns-id, no body; recorded with headers, payload and JWT', async () => {
    const reply = await post(session, { headers: { ...good(), 'apns-collapse-id': 'badge' } });
    assert.equal(reply.status, 200);
    assert.match(reply.apnsId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(reply.body, null);
    const [request] = await server.waitForRequests(1);
    assert.equal(request?.deviceToken, 'ab'.repeat(32));
    assert.deepEqual(request?.payload, { aps: { badge: 1 } });
    assert.equal(request?.headers['apns-collapse-id'], 'badge');
    assert.equal(request?.jwt?.header.kid, 'KEYID00001');
    assert.equal(request?.session, 1);
  });

  test('an apns-id sent by the client is echoed', async () => {
    const apnsId = '123e4567-e89b-12d3-a456-426614174000';
    assert.equal((await post(session, { headers: { ...good(), 'apns-id': apnsId } })).apnsId, apnsId);
  });

  const refusals: readonly [string, () => Parameters<typeof post>[1], number, string][] = [
    ['PUT', () => ({ method: 'PUT', headers: good() }), 405, 'MethodNotAllowed'],
    ['a path outside /3/device/', () => ({ path: '/2/device/abcd', headers: good() }), 404, 'BadPath'],
    ['no device token', () => ({ path: '/3/device/', headers: good() }), 400, 'MissingDeviceToken'],
    ['no authorization', () => ({ headers: { ...good(), authorization: undefined } }), 403, 'MissingProviderToken'],
    [
      'a token that is not a JWT',
      () => ({ headers: { ...good(), authorization: 'bearer nope' } }),
      403,
      'InvalidProviderToken',
    ],
    [
      'a JWT signed with another key',
      () => {
        const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
        const forged = new ProviderToken({ signingKey: other, keyId: server.keyId, teamId: server.teamId });
        return { headers: { ...good(), authorization: `bearer ${forged.current()}` } };
      },
      403,
      'InvalidProviderToken',
    ],
    [
      'another key id',
      () => ({ headers: { ...good(), authorization: `bearer ${withIds('OTHERKEY01', server.teamId).current()}` } }),
      403,
      'InvalidProviderToken',
    ],
    [
      'another team id',
      () => ({ headers: { ...good(), authorization: `bearer ${withIds(server.keyId, 'OTHERTEAM1').current()}` } }),
      403,
      'InvalidProviderToken',
    ],
    [
      'a JWT issued over an hour ago',
      () => ({
        headers: { ...good(), authorization: `bearer ${withIds(server.keyId, server.teamId, -3_601_000).current()}` },
      }),
      403,
      'ExpiredProviderToken',
    ],
    ['no apns-topic', () => ({ headers: { ...good(), 'apns-topic': undefined } }), 400, 'MissingTopic'],
    ['no apns-push-type', () => ({ headers: { ...good(), 'apns-push-type': undefined } }), 400, 'InvalidPushType'],
    ['an unknown push type', () => ({ headers: { ...good(), 'apns-push-type': 'banner' } }), 400, 'InvalidPushType'],
    ['priority 7', () => ({ headers: { ...good(), 'apns-priority': '7' } }), 400, 'BadPriority'],
    [
      'a non-numeric expiration',
      () => ({ headers: { ...good(), 'apns-expiration': 'soon' } }),
      400,
      'BadExpirationDate',
    ],
    [
      'a 65-byte collapse id',
      () => ({ headers: { ...good(), 'apns-collapse-id': 'c'.repeat(65) } }),
      400,
      'BadCollapseId',
    ],
    ['an empty body', () => ({ headers: good(), body: '' }), 400, 'PayloadEmpty'],
    [
      'a body over 4 KB',
      () => ({ headers: good(), body: JSON.stringify({ aps: { badge: 1 }, pad: 'x'.repeat(4096) }) }),
      413,
      'PayloadTooLarge',
    ],
    ['a body without aps', () => ({ headers: good(), body: '{"badge":1}' }), 400, 'BadPayload'],
    ['a device token that is not hex', () => ({ path: '/3/device/zz', headers: good() }), 400, 'BadDeviceToken'],
  ];
  function withIds(keyId: string, teamId: string, skewMs = 0): ProviderToken {
    return new ProviderToken({
      signingKey: readFileSync(server.keyPath, 'utf8'),
      keyId,
      teamId,
      now: () => Date.now() + skewMs,
    });
  }
  for (const [what, request, status, reason] of refusals) {
    test(`${what} → ${status} ${reason}, with an apns-id`, async () => {
      const reply = await post(session, request());
      assert.equal(reply.status, status);
      assert.deepEqual(reply.body, { reason });
      assert.ok(reply.apnsId);
    });
  }

  test('scripted answers: a token queue in order, then its standing answer, then the rule, then 200', async () => {
    const token = 'cd'.repeat(32);
    const path = `/3/device/${token}`;
    server.enqueue(token, ApnsAnswers.unregistered(1_234), ApnsAnswers.tooManyRequests);
    assert.deepEqual((await post(session, { path, headers: good() })).body, {
      reason: 'Unregistered',
      timestamp: 1_234,
    });
    assert.equal((await post(session, { path, headers: good() })).status, 429);
    assert.equal((await post(session, { path, headers: good() })).status, 200);
    server.setRule((request) => (request.deviceToken === token ? ApnsAnswers.internalServerError : undefined));
    assert.equal((await post(session, { path, headers: good() })).status, 500);
    server.answerAlways(token, ApnsAnswers.serviceUnavailable);
    assert.equal((await post(session, { path, headers: good() })).status, 503);
    server.resetAnswers();
    assert.equal((await post(session, { path, headers: good() })).status, 200);
  });

  test('scripted answers only reach requests that pass the provider token check', async () => {
    const token = 'ef'.repeat(32);
    server.enqueue(token, ApnsAnswers.unregistered());
    const reply = await post(session, { path: `/3/device/${token}`, headers: { ...good(), authorization: undefined } });
    assert.equal(reply.status, 403);
    assert.equal((await post(session, { path: `/3/device/${token}`, headers: good() })).status, 410);
  });

  test('a delayed answer arrives after the delay', async () => {
    const token = '01'.repeat(32);
    server.enqueue(token, ApnsAnswers.slow(150));
    const started = Date.now();
    assert.equal((await post(session, { path: `/3/device/${token}`, headers: good() })).status, 200);
    assert.ok(Date.now() - started >= 140);
  });

  test('waitForRequests rejects with the count when too few arrive', async () => {
    await assert.rejects(server.waitForRequests(server.requests.length + 1, 50), /timed out after 50 ms .*got \d+/);
  });

  test('the certificate is valid for 127.0.0.1 and for localhost', async () => {
    const byName = connect(server, 'localhost');
    try {
      assert.equal((await post(byName, { headers: good() })).status, 200);
    } finally {
      byName.close();
    }
  });

  test('every request so far came over the one client session', () => {
    assert.equal(server.requests.filter((request) => request.session === 1).length, server.requests.length - 1);
    assert.equal(server.sessionsOpened, 2);
  });
});

describe('ApnsTestServer teardown', () => {
  test('close() ends open sessions, stops listening and deletes the CA and key files', async () => {
    const server = await ApnsTestServer.start();
    const session = connect(server);
    const closed = new Promise((resolve) => session.once('close', resolve));
    await post(session, { headers: {} });
    assert.ok(existsSync(server.caPath) && existsSync(server.keyPath));
    await server.close();
    await closed;
    assert.ok(!existsSync(server.caPath) && !existsSync(path.dirname(server.keyPath)));
    const refused = http2.connect(`https://${server.address}`);
    await new Promise<void>((resolve) => refused.once('error', () => resolve()));
    refused.destroy();
    await server.close();
  });
});

describe('apns-test-server-main (the demo entry)', () => {
  test('prints host:port, CA, key, key id and team id as one JSON line; SIGTERM cleans up', async () => {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const main = path.join(here, '..', '..', 'test', 'helpers', 'apns-test-server-main.ts');
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', main, '--key-id', 'DEMOKEY001', '--team-id', 'DEMOTEAM01'],
      {
        cwd: path.join(here, '..'),
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
      });
      const info = JSON.parse(line) as Record<string, unknown>;
      assert.equal(info.keyId, 'DEMOKEY001');
      assert.equal(info.teamId, 'DEMOTEAM01');
      assert.equal(info.address, `${String(info.host)}:${String(info.port)}`);
      assert.ok(existsSync(String(info.caPath)) && existsSync(String(info.keyPath)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(!existsSync(String(info.caPath)));
    } finally {
      child.kill('SIGKILL');
    }
  });
});
