/**
 * CORS on the real server, over raw HTTP: preflights and answers of the device routes for
 * allowed and other origins, and the API-key routes that never answer a browser origin.
 */
import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { deviceToken } from '../helpers/api-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const APP = 'http://app.example.test:8443';
const OTHER = 'http://evil.example.test';

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function call(
  server: ServerProcess,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.http}${path}`, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function preflightOf(
  server: ServerProcess,
  path: string,
  origin: string,
  method: string,
  headers = 'authorization, content-type',
) {
  return call(server, 'OPTIONS', path, {
    origin,
    'access-control-request-method': method,
    'access-control-request-headers': headers,
  });
}

function allowHeaders(answer: Answer): string[] {
  return Object.keys(answer.headers).filter((h) => h.startsWith('access-control-allow-'));
}

describe('CORS', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer({ env: { BADGESYNC_CORS_ORIGINS: ` ${APP} , https://other-app.example.test` } });
  });
  afterAll(stopAll);

  const DEVICE = '/v1/accounts/web/devices/tab';

  test('[API-11] a preflight from an allowed origin for PUT or DELETE of a device is answered with the CORS headers', async () => {
    for (const method of ['PUT', 'DELETE']) {
      const answer = await preflightOf(server, DEVICE, APP, method);
      assert.equal(answer.status, 204, method);
      assert.equal(answer.headers['access-control-allow-origin'], APP);
      assert.equal(answer.headers['access-control-allow-methods'], 'PUT, DELETE');
      assert.equal(answer.headers['access-control-allow-headers'], 'authorization, content-type');
      assert.equal(answer.headers['access-control-max-age'], '600');
      assert.equal(answer.headers.vary, 'Origin');
    }
  });

  test('[API-11] a preflight from another origin, for another method or header, is refused without allow headers', async () => {
    const refusals = [
      await preflightOf(server, DEVICE, OTHER, 'PUT'),
      await preflightOf(server, DEVICE, 'null', 'PUT'),
      await preflightOf(server, DEVICE, `${APP}/`, 'PUT'),
      await preflightOf(server, DEVICE, APP, 'POST'),
      await preflightOf(server, DEVICE, APP, 'PUT', 'authorization, x-api-key'),
    ];
    for (const answer of refusals) {
      assert.equal(answer.status, 403);
      assert.equal(JSON.parse(answer.body).error.code, 'forbidden');
      assert.deepEqual(allowHeaders(answer), []);
    }
    const plain = await call(server, 'OPTIONS', DEVICE, {});
    assert.equal(plain.status, 204);
    assert.equal(plain.headers.allow, 'PUT, DELETE, OPTIONS');
    assert.deepEqual(allowHeaders(plain), []);
  });

  test('[API-10] answers of the device routes carry the allowed origin, errors included; other origins get none', async () => {
    const token = await deviceToken(server, 'web', 'tab');
    const put = await call(
      server,
      'PUT',
      DEVICE,
      { origin: APP, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      JSON.stringify({ badges: true }),
    );
    assert.equal(put.status, 200, put.body);
    assert.equal(put.headers['access-control-allow-origin'], APP);
    assert.equal(put.headers.vary, 'Origin');

    const unauthorised = await call(server, 'DELETE', DEVICE, { origin: APP, authorization: 'Bearer nope' });
    assert.equal(unauthorised.status, 401);
    assert.equal(unauthorised.headers['access-control-allow-origin'], APP, 'the page can read why it failed');

    const other = await call(server, 'DELETE', DEVICE, { origin: OTHER, authorization: `Bearer ${token}` });
    assert.equal(other.status, 200, 'a non-browser client is not stopped by CORS');
    assert.deepEqual(allowHeaders(other), []);
    assert.equal(other.headers.vary, 'Origin');
  });

  test('[API-10] the API-key routes never answer a browser origin, not even an allowed one', async () => {
    const backend = { origin: APP, authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
    const answers = [
      await call(server, 'POST', '/v1/accounts/web/items', backend, JSON.stringify({ thread: 'a' })),
      await call(server, 'POST', '/v1/accounts/web/read', backend, JSON.stringify({ thread: 'a', seq: 1 })),
      await call(server, 'GET', '/v1/accounts/web/badge', backend),
    ];
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200],
    );
    for (const path of ['/v1/accounts/web/items', '/v1/accounts/web/read', '/v1/accounts/web/badge']) {
      const answer = await preflightOf(server, path, APP, path.endsWith('badge') ? 'GET' : 'POST');
      assert.equal(answer.status, 405, path);
      answers.push(answer);
    }
    for (const answer of answers) assert.deepEqual(allowHeaders(answer), []);
  });
});

describe('CORS without BADGESYNC_CORS_ORIGINS', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[API-10][API-11] no origin is allowed by default', async () => {
    const answer = await preflightOf(server, '/v1/accounts/web/devices/tab', APP, 'PUT');
    assert.equal(answer.status, 403);
    assert.deepEqual(allowHeaders(answer), []);
  });
});
