/**
 * A web app on its own origin calls the device routes from Debian's headless Chromium: the
 * browser's own CORS checks against the real server. Each origin is a tiny page server on
 * another port of 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { deviceToken } from '../helpers/api-client.js';
import { metric } from '../helpers/metrics.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

/** A page server whose every path answers an empty page: an origin of its own. */
async function startOrigin(): Promise<{ readonly origin: string; readonly server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>app</title>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface FetchResult {
  readonly ok: boolean;
  readonly status?: number;
  readonly body?: unknown;
  readonly error?: string;
}

describe('device routes from a page on another origin (Chromium)', () => {
  let server: ServerProcess;
  let browser: Browser;
  let app: { readonly origin: string; readonly server: Server };
  let stranger: { readonly origin: string; readonly server: Server };
  beforeAll(async () => {
    [app, stranger] = await Promise.all([startOrigin(), startOrigin()]);
    [server, browser] = await Promise.all([
      startServer({ env: { BADGESYNC_CORS_ORIGINS: app.origin } }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    for (const origin of [app, stranger]) origin?.server.close();
    await stopAll();
  });

  /** Opens a page on `origin` and runs `fetch(method url)` with the device token there. */
  async function fetchFrom(origin: string, method: string, token: string): Promise<FetchResult> {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${origin}/app.html`);
      return await page.evaluate(
        async ({ url, method, token }) => {
          try {
            const res = await fetch(url, {
              method,
              headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
              ...(method === 'PUT' ? { body: JSON.stringify({ badges: true }) } : {}),
            });
            return { ok: true, status: res.status, body: await res.json() };
          } catch (err) {
            return { ok: false, error: String(err) };
          }
        },
        { url: `${server.http}/v1/accounts/web/devices/tab`, method, token },
      );
    } finally {
      await context.close();
    }
  }

  test('[API-10][API-11] a page on an allowed origin registers and signs out its device with its token', async () => {
    const token = await deviceToken(server, 'web', 'tab');
    const put = await fetchFrom(app.origin, 'PUT', token);
    assert.equal(put.ok, true, put.error);
    assert.equal(put.status, 200);
    assert.equal((put.body as { device: string }).device, 'tab');
    const signOut = await fetchFrom(app.origin, 'DELETE', token);
    assert.equal(signOut.ok, true, signOut.error);
    assert.deepEqual(signOut.body, { signedOut: true });
  });

  test('[API-10][API-11] a page on any other origin cannot call them: the preflight stops the request', async () => {
    const token = await deviceToken(server, 'web', 'tab');
    const putsBefore = await metric(server, 'badgesync_http_requests_total', { route: 'device_put' });
    const put = await fetchFrom(stranger.origin, 'PUT', token);
    assert.equal(put.ok, false, 'the browser refuses the call');
    assert.match(put.error ?? '', /Failed to fetch/);
    assert.equal(
      await metric(server, 'badgesync_http_requests_total', { route: 'device_put' }),
      putsBefore,
      'the PUT itself never reached the server',
    );
    assert.ok(
      (await metric(server, 'badgesync_http_requests_total', { route: 'device_preflight', status: '403' })) >= 1,
      'its preflight was refused',
    );
  });
});
