/**
 * The backend API's answers to bad calls: each a JSON error in the contract's shape
 * `{"error": {"code", "message"}}` with a fitting status; device tokens reach only their own
 * device's routes; health, metrics and unknown accounts.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { type ApiAnswer, api, badge, deviceToken } from '../helpers/api-client.js';
import { scrape } from '../helpers/metrics.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

function assertError(answer: ApiAnswer, status: number, code: string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as { error?: { code?: unknown; message?: unknown } };
  assert.deepEqual(Object.keys(body), ['error'], 'only the error object');
  assert.deepEqual(Object.keys(body.error ?? {}).sort(), ['code', 'message']);
  assert.equal(body.error?.code, code);
  const message = body.error?.message;
  assert.ok(typeof message === 'string' && message.length > 0, 'a message for a person');
}

/** A raw request, for bodies and headers the api() helper would not send. */
async function raw(server: ServerProcess, method: string, route: string, init: RequestInit = {}): Promise<ApiAnswer> {
  const res = await fetch(`${server.http}${route}`, {
    method,
    ...init,
    headers: { authorization: `Bearer ${server.apiKey}`, ...(init.headers as Record<string, string>) },
  });
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { status: res.status, body: await res.json() };
}

describe('backend API errors', () => {
  let server: ServerProcess;
  const items = '/v1/accounts/shop/items';
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[AUTH-5] no credentials → 401; a wrong key → 401; nothing is written', async () => {
    assertError(await api(server, 'POST', items, { thread: 't' }, null), 401, 'unauthorized');
    assertError(await api(server, 'POST', items, { thread: 't' }, 'wrong-key'), 401, 'unauthorized');
    assertError(
      await api(server, 'GET', '/v1/accounts/shop/badge', undefined, `${server.apiKey}x`),
      401,
      'unauthorized',
    );
    assertError(
      await raw(server, 'GET', '/v1/accounts/shop/badge', { headers: { authorization: `Basic ${server.apiKey}` } }),
      401,
      'unauthorized',
    );
    assert.equal((await badge(server, 'shop')).badge, 0);
  });

  test('[API-1] an unknown route → 404; a wrong method → 405', async () => {
    assertError(await api(server, 'GET', '/v1/nope'), 404, 'not_found');
    assertError(await api(server, 'GET', '/v1/accounts/shop/items/extra'), 404, 'not_found');
    assertError(await api(server, 'GET', items), 405, 'method_not_allowed');
    assertError(await api(server, 'DELETE', '/v1/accounts/shop/badge'), 405, 'method_not_allowed');
  });

  test('[API-7][API-1] a body that is not JSON → 415; too big → 413; unparsable → 400 invalid_json', async () => {
    assertError(
      await raw(server, 'POST', items, { body: 'thread=t', headers: { 'content-type': 'text/plain' } }),
      415,
      'unsupported_media_type',
    );
    assertError(await raw(server, 'POST', items, { body: '{"thread":"t"}' }), 415, 'unsupported_media_type');
    const big = JSON.stringify({ thread: 't', idempotencyKey: 'k'.repeat(70_000) });
    assertError(
      await raw(server, 'POST', items, { body: big, headers: { 'content-type': 'application/json' } }),
      413,
      'payload_too_large',
    );
    assertError(await api(server, 'POST', items, '{"thread": "t",'), 400, 'invalid_json');
    assert.equal((await badge(server, 'shop')).badge, 0, 'none of them added an item');
  });

  test('[API-7][API-2] invalid bodies → 400 invalid_body, and nothing is added', async () => {
    const bodies: unknown[] = [
      { thread: 't', count: 0 },
      { thread: 't', count: 10_001 },
      { thread: 't', count: 1.5 },
      { thread: 't', count: '3' },
      { thread: 'a/b' },
      { thread: '' },
      { thread: 'x'.repeat(129) },
      {},
      [],
      { thread: 't', extra: true },
      { thread: 't', idempotencyKey: '' },
      { thread: 't', idempotencyKey: 'nul\u0000key' },
      { thread: 't', idempotencyKey: 'line\nbreak' },
    ];
    for (const body of bodies) assertError(await api(server, 'POST', items, body), 400, 'invalid_body');
    assertError(await api(server, 'POST', '/v1/accounts/shop/read', { thread: 't', seq: -1 }), 400, 'invalid_body');
    assertError(await api(server, 'PUT', '/v1/accounts/shop/devices/d', { apnsToken: 'zz' }), 400, 'invalid_body');
    assertError(
      await api(server, 'PUT', '/v1/accounts/shop/devices/d', { environment: 'staging' }),
      400,
      'invalid_body',
    );
    assert.deepEqual(await badge(server, 'shop'), { badge: 0, threads: {}, muted: [] });
    const edge = await api(server, 'POST', items, { thread: 't', count: 10_000 });
    assert.deepEqual(edge.body, { thread: 't', head: 10_000, badge: 10_000 }, 'count 10000 is allowed');
  });

  test('[API-7][ID-1] an invalid ID in the path → 400 invalid_id', async () => {
    assertError(await api(server, 'GET', `/v1/accounts/${'a'.repeat(129)}/badge`), 400, 'invalid_id');
    assertError(await api(server, 'GET', '/v1/accounts/a%2Fb/badge'), 400, 'invalid_id');
    assertError(await api(server, 'POST', '/v1/accounts/a%20b/items', { thread: 't' }), 400, 'invalid_id');
    assertError(await api(server, 'PUT', '/v1/accounts/shop/devices/@server', {}), 400, 'invalid_id');
  });

  test('[AUTH-5][API-5][API-6] a device token may register and sign out its own device, nothing else', async () => {
    const token = await deviceToken(server, 'shop', 'phone');
    const put = await api(server, 'PUT', '/v1/accounts/shop/devices/phone', { badges: false }, token);
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal((put.body as { badges: boolean }).badges, false);
    assertError(await api(server, 'PUT', '/v1/accounts/shop/devices/mac', {}, token), 403, 'forbidden');
    assertError(await api(server, 'PUT', '/v1/accounts/other/devices/phone', {}, token), 403, 'forbidden');
    assertError(await api(server, 'POST', items, { thread: 't' }, token), 403, 'forbidden');
    assertError(await api(server, 'POST', '/v1/accounts/shop/read', { thread: 't', seq: 1 }, token), 403, 'forbidden');
    assertError(await api(server, 'GET', '/v1/accounts/shop/badge', undefined, token), 403, 'forbidden');
    assertError(await api(server, 'DELETE', '/v1/accounts/shop/devices/mac', undefined, token), 403, 'forbidden');
    const expired = await deviceToken(server, 'shop', 'phone', -10);
    assertError(await api(server, 'PUT', '/v1/accounts/shop/devices/phone', {}, expired), 401, 'unauthorized');
    const out = await api(server, 'DELETE', '/v1/accounts/shop/devices/phone', undefined, token);
    assert.deepEqual(out, { status: 200, body: { signedOut: true } });
    assert.equal((await badge(server, 'shop')).badge, 10_000, 'the device calls changed no count');
  });

  test('[API-4] the badge of an unknown account is all zeros', async () => {
    assert.deepEqual(await badge(server, 'never-seen'), { badge: 0, threads: {}, muted: [] });
  });

  test('[API-8] GET /healthz answers 200 {"ok": true} without credentials', async () => {
    const res = await fetch(`${server.http}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
  });

  test('[API-8][OPS-2] GET /metrics is Prometheus text with the badgesync_ metrics', async () => {
    const res = await fetch(`${server.http}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await scrape(server);
    for (const name of [
      'badgesync_connections',
      'badgesync_loaded_docs',
      'badgesync_updates_applied_total',
      'badgesync_updates_refused_total',
      'badgesync_heartbeat_terminations_total',
      'badgesync_ingest_seconds',
      'badgesync_http_requests_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(text, /^badgesync_http_requests_total\{route="items",status="400"\} \d+$/m, 'the 400s above counted');
  });
});
