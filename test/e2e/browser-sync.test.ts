/**
 * The SDK in Debian's headless Chromium against the real server: two browser contexts are
 * two devices (separate IndexedDB), each running test/browser/page.ts bundled with esbuild.
 */
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { openSdkPage, startChromiumRig, stopChromiumRig, waitForSyncState } from '../browser/chromium-rig.js';
import type { PageWindow } from '../browser/page-api.js';
import type { PageServer } from '../browser/page-server.js';
import { until } from '../demo/sdk-device.js';
import { Tunnel } from '../demo/tunnel.js';
import { api, badge } from '../helpers/api-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

// The page reloaded offline is served by Playwright (route.fulfill), and Chromium counts
// such a document as public; its Local Network Access check then blocks the WebSocket to
// the test server on 127.0.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS). A real
// sync server is public, so the check never applies to the SDK in production.
const EXTRA_CHROMIUM_ARGS = ['--disable-features=LocalNetworkAccessChecks'];
/** Generous for a loaded 2-core machine; a local round trip takes milliseconds. */
const WAIT_MS = 10_000;

describe('SDK in Chromium', () => {
  let server: ServerProcess;
  let pages: PageServer;
  let browser: Browser;
  beforeAll(async () => {
    ({ server, pages, browser } = await startChromiumRig(EXTRA_CHROMIUM_ARGS));
  });
  afterAll(() => stopChromiumRig({ browser, pages }));

  async function openDevice(
    context: BrowserContext,
    device: string,
    options: { account?: string; serverUrl?: string; heartbeat?: number } = {},
  ): Promise<Page> {
    return openSdkPage(context, pages, device, {
      server: options.serverUrl ?? server.syncUrl,
      account: options.account ?? 'web',
      device,
      ...(options.heartbeat === undefined ? {} : { heartbeat: options.heartbeat }),
    });
  }

  const pageBadge = (page: Page) => page.evaluate(() => (globalThis as unknown as PageWindow).app.badge());
  async function waitForBadge(page: Page, value: number): Promise<void> {
    await page.waitForFunction((v) => (globalThis as unknown as PageWindow).app.badge() === v, value, {
      timeout: WAIT_MS,
    });
  }
  const waitForState = (page: Page, value: string) => waitForSyncState(page, value, WAIT_MS);

  test('[SDK-1][SDK-4][SDK-7] two browsers: live reads, an offline read survives a reload and merges', async () => {
    await api(server, 'POST', '/v1/accounts/web/items', { thread: 'inbox', count: 6 });
    const laptopContext = await browser.newContext();
    const desktopContext = await browser.newContext();
    try {
      const laptop = await openDevice(laptopContext, 'laptop');
      const desktop = await openDevice(desktopContext, 'desktop');
      await Promise.all([waitForState(laptop, 'synced'), waitForState(desktop, 'synced')]);
      assert.equal(await pageBadge(desktop), 6);

      // A read in one browser updates the other's badge (and the page's title and text).
      await laptop.evaluate(() => (globalThis as unknown as PageWindow).app.markRead('inbox', 2));
      await waitForBadge(desktop, 4);
      assert.equal(await desktop.textContent('#badge'), '4');
      assert.equal((await badge(server, 'web')).badge, 4);

      // Offline. Chromium (156) keeps an already open WebSocket open, just silent, when the
      // context goes offline; the SDK leaves its socket on the window's `offline` event.
      // A raw socket opened beside the SDK's shows what Chromium does.
      await desktop.evaluate(
        (url) =>
          new Promise<void>((resolve, reject) => {
            const page = globalThis as unknown as PageWindow;
            const raw = new page.WebSocket(url);
            page.raw = raw;
            raw.onopen = () => resolve();
            raw.onclose = (e) => reject(new Error(`raw socket closed ${e.code}`));
          }),
        `${server.syncUrl}/web?token=${await desktop.evaluate(() => fetch('/token?account=web&device=raw').then((r) => r.text()))}`,
      );
      await desktopContext.setOffline(true);
      await waitForState(desktop, 'offline');
      assert.equal(await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.online()), false);
      const rawState = await desktop.evaluate(() => (globalThis as unknown as PageWindow).raw?.readyState);
      console.log(`after setOffline(true), a raw WebSocket's readyState is ${rawState} (1 = still open)`);
      const offlineStatus = await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.status());
      assert.deepEqual(offlineStatus && { ...offlineStatus, lastClose: null }, {
        state: 'offline',
        retryInMs: null,
        lastClose: null,
      });

      await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.markRead('inbox', 5));
      assert.equal(await pageBadge(desktop), 1, 'offline counts are right at once');
      await laptop.evaluate(() => (globalThis as unknown as PageWindow).app.markRead('inbox', 3));
      await api(server, 'POST', '/v1/accounts/web/items', { thread: 'inbox', count: 2 });
      await waitForBadge(laptop, 5);

      // Reload while offline: the app shell comes from the test (as a service worker's
      // cache would serve it); the counts come from IndexedDB.
      await desktopContext.route(`${pages.url}/**`, async (route) => {
        const file = pages.files.get(new URL(route.request().url()).pathname);
        if (file === undefined) await route.abort('internetdisconnected');
        else await route.fulfill({ contentType: file.type, body: file.body });
      });
      await desktop.reload();
      await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.ready);
      assert.equal(
        await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.syncedOnce()),
        true,
        'IndexedDB kept "synced once"',
      );
      assert.equal(await pageBadge(desktop), 1, 'IndexedDB kept the offline read: 6 items, read to 5');
      await desktop.waitForTimeout(500);
      assert.deepEqual(
        await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.statuses().map((s) => s.state)),
        ['offline'],
        'after the reload: not one connection attempt while the browser is offline',
      );
      assert.equal((await badge(server, 'web')).badge, 5, 'the server never saw the offline read (8 − 3)');

      await desktopContext.unroute(`${pages.url}/**`);
      await desktopContext.setOffline(false);
      await waitForState(desktop, 'synced');
      await Promise.all([waitForBadge(desktop, 3), waitForBadge(laptop, 3)]);
      await until(async () => (await badge(server, 'web')).badge === 3, WAIT_MS, 'server merged: 8 − max(5, 3)');
      assert.deepEqual(
        await desktop.evaluate(() => (globalThis as unknown as PageWindow).app.counts()),
        await laptop.evaluate(() => (globalThis as unknown as PageWindow).app.counts()),
      );
      const desktopStatuses = await desktop.evaluate(() =>
        (globalThis as unknown as PageWindow).app.statuses().map((s) => s.state),
      );
      assert.ok(!desktopStatuses.includes('error'), `no error: ${desktopStatuses.join(' → ')}`);
    } finally {
      await Promise.all([laptopContext.close(), desktopContext.close()]);
    }
  });

  test('[SDK-5] a dead server is noticed in the browser, where pings are invisible', async () => {
    await api(server, 'POST', '/v1/accounts/web2/items', { thread: 'inbox', count: 2 });
    const link = await Tunnel.open(server.port);
    const context = await browser.newContext();
    try {
      const page = await openDevice(context, 'tablet', { account: 'web2', serverUrl: link.url, heartbeat: 300 });
      await waitForState(page, 'synced');
      link.freeze();
      const frozenAt = Date.now();
      await page.waitForFunction(
        () => {
          const s = (globalThis as unknown as PageWindow).app.status();
          return s?.state === 'offline' && s.lastClose?.code === 0;
        },
        null,
        { timeout: WAIT_MS },
      );
      const noticed = Date.now() - frozenAt;
      assert.ok(noticed < 2_000, `noticed after ${noticed} ms (2–2.5 heartbeats of 300 ms)`);
      link.restore();
      await waitForState(page, 'synced');
    } finally {
      await context.close();
      await link.close();
    }
  });

  test('[SDK-7] IndexedDbStorage keeps the document and the metadata across a close', async () => {
    const context = await browser.newContext();
    try {
      const page = await openDevice(context, 'contract');
      const answer = await page.evaluate(() => (globalThis as unknown as PageWindow).app.storageRoundTrip());
      const reads: Record<string, number> = {};
      for (let i = 1; i <= 1_200; i++) reads[`t${i % 7}/d`] = i;
      assert.deepEqual(answer, {
        reads,
        mutes: { news: true },
        meta: { deviceId: 'd', syncedOnce: true, pending: [] },
      });
    } finally {
      await context.close();
    }
  });
});
