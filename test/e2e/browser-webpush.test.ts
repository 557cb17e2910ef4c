/**
 * A web app's badge through Web Push, end to end in Debian's headless Chromium: the real server
 * process pushes to the test push service (which checks the VAPID JWT and decrypts the
 * aes128gcm payload with the subscription's private keys, held by the test); the decrypted
 * payload is then delivered to the page's service worker through the DevTools protocol
 * (`ServiceWorker.deliverPushMessage`), as Chromium's own push service would deliver it, and
 * the SDK's service-worker helper (loaded with importScripts) must set the app badge the
 * server computed. `navigator.setAppBadge` is stubbed inside the worker to report each call
 * to the page.
 *
 * Chromium cannot subscribe to the test push service (its PushManager talks to its vendor's
 * service only), so the subscription is the test's; everything else is the real path.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import type { WebPushPage, WorkerReport } from '../browser/webpush-page-api.js';
import { api, deviceToken } from '../helpers/api-client.js';
import { FAST_PUSH_ENV, PUSH_WAIT_MS, post } from '../helpers/push-rig.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { type TestSubscription, WebPushTestServer } from '../helpers/webpush-test-server.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
/** Generous for a loaded 2-core machine; a local round trip takes milliseconds. */
const WAIT_MS = 10_000;

/**
 * The app's service worker: the SDK's helper through importScripts (the classic build), a
 * stubbed Badging API that reports to the page, and the app's own push listener, which sees
 * every push (badgesync's and others) and reports it too.
 */
const SERVICE_WORKER = `
importScripts('/badgesync-sw.js');
const report = async (message) => {
  for (const client of await self.clients.matchAll({ includeUncontrolled: true })) client.postMessage(message);
};
Object.defineProperty(self.navigator, 'setAppBadge', {
  configurable: true,
  value: (badge) => report({ call: 'setAppBadge', badge }),
});
Object.defineProperty(self.navigator, 'clearAppBadge', {
  configurable: true,
  value: () => report({ call: 'clearAppBadge' }),
});
BadgeSyncServiceWorker.installBadgePushHandler(self);
self.addEventListener('push', (event) => {
  event.waitUntil(report({ call: 'app-push', text: event.data ? event.data.text() : null }));
});
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
`;

interface Origin {
  readonly url: string;
  close(): Promise<void>;
}

/** The web app's origin: the page, its bundle, the worker and the SDK's classic helper. */
async function startAppOrigin(): Promise<Origin> {
  const bundle = async (entry: string, format: 'esm' | 'iife', globalName?: string) => {
    const result = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      format,
      platform: 'browser',
      target: 'chrome120',
      logLevel: 'silent',
      ...(globalName === undefined ? {} : { globalName }),
    });
    const output = result.outputFiles[0];
    if (output === undefined) throw new Error('esbuild produced nothing');
    return output.text;
  };
  const files = new Map<string, { type: string; body: string }>([
    [
      '/',
      {
        type: 'text/html; charset=utf-8',
        body: '<!doctype html><title>web app</title><script type="module" src="/page.js"></script>',
      },
    ],
    ['/page.js', { type: 'text/javascript', body: await bundle(path.join(HERE, '../browser/webpush-page.ts'), 'esm') }],
    // What `pnpm -C client build` emits as dist/badgesync-sw.js (the same esbuild options).
    [
      '/badgesync-sw.js',
      {
        type: 'text/javascript',
        body: await bundle(path.join(HERE, '../../client/src/service-worker.ts'), 'iife', 'BadgeSyncServiceWorker'),
      },
    ],
    ['/sw.js', { type: 'text/javascript', body: SERVICE_WORKER }],
  ]);
  const server = http.createServer((req, res) => {
    const file = files.get(new URL(req.url ?? '/', 'http://x').pathname);
    if (file === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    res.end(file.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('Web Push to a service worker in Chromium', () => {
  let service: WebPushTestServer;
  let app: Origin;
  let server: ServerProcess;
  let browser: Browser;
  beforeAll(async () => {
    [service, app] = await Promise.all([WebPushTestServer.start(), startAppOrigin()]);
    [server, browser] = await Promise.all([
      startServer({
        env: {
          ...FAST_PUSH_ENV,
          BADGESYNC_WEBPUSH_HOSTS: service.address,
          BADGESYNC_VAPID_SUBJECT: 'mailto:ops@example.com',
          BADGESYNC_CORS_ORIGINS: app.url,
          NODE_EXTRA_CA_CERTS: service.caPath,
        },
      }),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await stopAll();
    await service?.close();
  });

  /** The page, its DevTools session and the id of its service worker registration. */
  async function openApp(context: BrowserContext): Promise<{ page: Page; cdp: CDPSession; registrationId: string }> {
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error('page error:', err));
    const cdp = await context.newCDPSession(page);
    const registrations = new Map<string, string>();
    cdp.on('ServiceWorker.workerRegistrationUpdated', (event) => {
      for (const r of event.registrations) if (!r.isDeleted) registrations.set(r.scopeURL, r.registrationId);
    });
    await cdp.send('ServiceWorker.enable');
    await page.goto(`${app.url}/`);
    await page.waitForFunction(() => 'webpush' in globalThis, null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => (globalThis as unknown as { webpush: WebPushPage }).webpush.ready), true);
    const until = Date.now() + WAIT_MS;
    while (!registrations.has(`${app.url}/`)) {
      if (Date.now() > until) throw new Error(`no service worker registration for ${app.url}/`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { page, cdp, registrationId: registrations.get(`${app.url}/`) as string };
  }

  const reports = (page: Page) =>
    page.evaluate(() => (globalThis as unknown as { webpush: WebPushPage }).webpush.reports());

  async function waitForReport(page: Page, check: (reports: WorkerReport[]) => boolean, what: string) {
    const until = Date.now() + WAIT_MS;
    while (!check(await reports(page))) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await reports(page))}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The payload the push service accepted last for the subscription, decrypted there. */
  async function nextPayload(subscription: TestSubscription, badge: number): Promise<string> {
    await service.waitFor(
      () => service.delivered(subscription).at(-1) === badge,
      PUSH_WAIT_MS,
      () => `badge ${badge} at the push service (so far ${service.delivered(subscription).join(', ')})`,
    );
    const request = service
      .requestsFor(subscription)
      .filter((r) => r.answer?.status === 201)
      .at(-1);
    assert.ok(request?.plaintext !== undefined && request.plaintext !== null);
    return request.plaintext;
  }

  test('[PUSH-20][SDK-20][SDK-21] the badge the server pushes is the badge the worker sets', async () => {
    const context = await browser.newContext();
    try {
      const { page, cdp, registrationId } = await openApp(context);
      const token = await deviceToken(server, 'web', 'browser');
      // The page fetches the VAPID key with its device token (CORS), as a web app would
      // before pushManager.subscribe; the test push service is told to expect it.
      const publicKey = await page.evaluate(
        ({ apiBase, token }) => (globalThis as unknown as { webpush: WebPushPage }).webpush.key(apiBase, token),
        { apiBase: server.http, token },
      );
      assert.deepEqual((await api(server, 'GET', '/v1/push/webpush-key')).body, { publicKey });
      const subscription = service.subscribe(publicKey);
      const put = await api(
        server,
        'PUT',
        '/v1/accounts/web/devices/browser',
        { platform: 'webpush', subscription },
        token,
      );
      assert.equal(put.status, 200, JSON.stringify(put.body));

      await post(server, 'web', 'inbox', 3);
      const three = await nextPayload(subscription, 3);
      assert.equal(three, '{"badge":3}');
      const request = service.requestsFor(subscription).at(-1);
      assert.equal(request?.headers['content-encoding'], 'aes128gcm');
      assert.equal(request?.urgency, 'normal');
      assert.match(request?.topic ?? '', /^[A-Za-z0-9_-]{1,32}$/);
      assert.ok((request?.ttl ?? 0) > 0);

      await cdp.send('ServiceWorker.deliverPushMessage', { origin: app.url, registrationId, data: three });
      await waitForReport(page, (r) => r.some((x) => x.call === 'setAppBadge'), 'setAppBadge');
      assert.deepEqual(
        (await reports(page)).filter((r) => r.call !== 'app-push'),
        [{ call: 'setAppBadge', badge: 3 }],
      );

      // Read everything: the server pushes 0, and the worker clears the badge.
      assert.equal((await api(server, 'POST', '/v1/accounts/web/read', { thread: 'inbox', seq: 3 })).status, 200);
      const zero = await nextPayload(subscription, 0);
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: app.url, registrationId, data: zero });
      await waitForReport(page, (r) => r.some((x) => x.call === 'clearAppBadge'), 'clearAppBadge');

      // Another sender's push goes to the app's own listener only.
      await cdp.send('ServiceWorker.deliverPushMessage', { origin: app.url, registrationId, data: '{"title":"hi"}' });
      await waitForReport(
        page,
        (r) => r.some((x) => x.call === 'app-push' && x.text === '{"title":"hi"}'),
        "the app's own listener",
      );
      assert.deepEqual(
        (await reports(page)).filter((r) => r.call !== 'app-push'),
        [{ call: 'setAppBadge', badge: 3 }, { call: 'clearAppBadge' }],
        'no badge call for a push that is not badgesync’s',
      );
    } finally {
      await context.close();
    }
  });
});
