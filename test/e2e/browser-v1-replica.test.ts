/**
 * A v1 replica in IndexedDB (what the v1 SDK left in a browser profile), opened by the v2 SDK
 * in Chromium against the real server: dropped in place (the database is cleared, not deleted)
 * and synced afresh; the device's read the server never saw survives (SPEC SDK-11).
 */
import assert from 'node:assert/strict';
import { packMarker } from '@badgesync/shared';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { openSdkPage, startChromiumRig, stopChromiumRig, waitForSyncState } from '../browser/chromium-rig.js';
import type { PageWindow } from '../browser/page-api.js';
import type { PageServer } from '../browser/page-server.js';
import { until } from '../demo/sdk-device.js';
import { api, badge } from '../helpers/api-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

/** Generous for a loaded 2-core machine; a local round trip takes milliseconds. */
const WAIT_MS = 15_000;

describe('SDK in Chromium: a v1 replica in IndexedDB', () => {
  let server: ServerProcess;
  let pages: PageServer;
  let browser: Browser;
  beforeAll(async () => {
    ({ server, pages, browser } = await startChromiumRig());
  });
  afterAll(() => stopChromiumRig({ browser, pages }));

  const waitForState = (page: Page, value: string) => waitForSyncState(page, value, WAIT_MS);

  test('[SDK-11] IndexedDB: a v1 replica is dropped when opened; the unseen read arrives after the fresh sync', async () => {
    const account = 'idb-v1';
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'inbox', count: 10 });
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'news', count: 10 });
    const context = await browser.newContext();
    try {
      const page = await openSdkPage(context, pages, 'tab', { server: server.syncUrl, account, device: 'tab' });
      await waitForState(page, 'synced');
      await page.evaluate(() => (globalThis as unknown as PageWindow).app.markRead('news', 2));
      await until(async () => (await badge(server, account)).badge === 18, WAIT_MS, 'news read to 2');
      await page.evaluate(() => (globalThis as unknown as PageWindow).app.close());
      // The profile's replica as the v1 SDK left it: inbox read to 7 offline, never sent.
      await page.evaluate(
        ([a, reads]) => (globalThis as unknown as PageWindow).app.writeV1Replica(a, { inbox: 10, news: 10 }, reads),
        [account, { 'inbox/tab': packMarker(0, 7), 'news/tab': packMarker(0, 2) }] as const,
      );

      await page.reload();
      await page.evaluate(() => (globalThis as unknown as PageWindow).app.ready);
      await waitForState(page, 'synced');
      await until(async () => (await badge(server, account)).badge === 11, WAIT_MS, 'inbox read to 7 arrives');
      await page.waitForFunction(() => (globalThis as unknown as PageWindow).app.badge() === 11, null, {
        timeout: WAIT_MS,
      });
      const states = await page.evaluate(() =>
        (globalThis as unknown as PageWindow).app.statuses().map((s) => s.state),
      );
      assert.ok(!states.includes('error'), states.join(' → '));

      // Reloaded once more: the cleared database holds the v2 replica, counted before any network.
      await context.setOffline(true);
      await context.route(`${pages.url}/**`, async (route) => {
        const file = pages.files.get(new URL(route.request().url()).pathname);
        if (file === undefined) await route.abort('internetdisconnected');
        else await route.fulfill({ contentType: file.type, body: file.body });
      });
      await page.reload();
      await page.evaluate(() => (globalThis as unknown as PageWindow).app.ready);
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).app.badge()), 11);
      assert.equal(await page.evaluate(() => (globalThis as unknown as PageWindow).app.syncedOnce()), true);
    } finally {
      await context.close();
    }
  });
});
