/**
 * Two tabs of one browser profile are one device: in one Chromium context (one origin, one
 * IndexedDB, one localStorage, one set of Web Locks) two pages take the device ID from
 * localStorage and open the same account replica. Contract v2 lets two sessions of one device
 * write concurrently (each its own entries in the device's array; the largest marker counts),
 * so neither tab is refused, and no read of either is lost.
 */
import assert from 'node:assert/strict';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { openSdkPage, startChromiumRig, stopChromiumRig, waitForSyncState } from '../browser/chromium-rig.js';
import type { PageWindow } from '../browser/page-api.js';
import type { PageServer } from '../browser/page-server.js';
import { until } from '../demo/sdk-device.js';
import { api, badge } from '../helpers/api-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

/** Generous for a loaded 2-core machine; a local round trip takes milliseconds. */
const WAIT_MS = 15_000;

const app = (page: Page) => page.evaluate(() => (globalThis as unknown as PageWindow).app.counts());

describe('SDK in Chromium: two tabs, one device', () => {
  let server: ServerProcess;
  let pages: PageServer;
  let browser: Browser;
  beforeAll(async () => {
    ({ server, pages, browser } = await startChromiumRig());
  });
  afterAll(() => stopChromiumRig({ browser, pages }));

  async function openTab(context: BrowserContext, name: string, account: string): Promise<Page> {
    return openSdkPage(context, pages, name, { server: server.syncUrl, account, device: 'local' });
  }

  const waitForState = (page: Page, value: string) => waitForSyncState(page, value, WAIT_MS);

  async function markRead(page: Page, thread: string, seq: number): Promise<void> {
    await page.evaluate(([t, s]) => (globalThis as unknown as PageWindow).app.markRead(t, s), [thread, seq] as const);
  }

  const states = (page: Page) =>
    page.evaluate(() => (globalThis as unknown as PageWindow).app.statuses().map((s) => s.state));

  async function agree(tabs: readonly Page[], account: string, unread: Record<string, number>): Promise<void> {
    const total = Object.values(unread).reduce((a, b) => a + b, 0);
    await until(
      async () => {
        const server_ = await badge(server, account);
        const counts = await Promise.all(tabs.map(app));
        return (
          server_.badge === total &&
          counts.every((c) => c.badge === total && JSON.stringify(c.threads) === JSON.stringify(server_.threads))
        );
      },
      WAIT_MS,
      `both tabs and the server at ${JSON.stringify(unread)}`,
    );
    assert.deepEqual((await badge(server, account)).threads, unread);
  }

  test('[SDK-13] two tabs share one device ID: concurrent and offline reads of both arrive; no 4403, no lost read', async () => {
    const account = 'tabs';
    for (const thread of ['inbox', 'news', 'chat']) {
      await api(server, 'POST', `/v1/accounts/${account}/items`, { thread, count: 10 });
    }
    const context = await browser.newContext();
    try {
      const first = await openTab(context, 'first', account);
      const second = await openTab(context, 'second', account);
      await Promise.all([waitForState(first, 'synced'), waitForState(second, 'synced')]);
      const [firstDevice, secondDevice] = await Promise.all(
        [first, second].map((p) => p.evaluate(() => (globalThis as unknown as PageWindow).app.deviceId())),
      );
      assert.equal(firstDevice, secondDevice, 'one device ID from localStorage');
      assert.match(firstDevice ?? '', /^web-/);
      const [firstId, secondId] = await Promise.all(
        [first, second].map((p) => p.evaluate(() => (globalThis as unknown as PageWindow).app.clientId())),
      );
      assert.notEqual(firstId, secondId, 'never one client ID in two live tabs');

      // Online, at the same moment, the same thread and others.
      await Promise.all([
        markRead(first, 'inbox', 3),
        markRead(second, 'inbox', 5),
        markRead(first, 'news', 4),
        markRead(second, 'chat', 2),
      ]);
      await agree([first, second], account, { chat: 8, inbox: 5, news: 6 });

      // Offline together (one context: one network), both write, the lower read last.
      await context.setOffline(true);
      await Promise.all([waitForState(first, 'offline'), waitForState(second, 'offline')]);
      await markRead(first, 'inbox', 8);
      await markRead(second, 'inbox', 7);
      await markRead(second, 'news', 6);
      await markRead(first, 'chat', 9);
      await markRead(second, 'chat', 4);
      assert.equal((await app(first)).threads.inbox, 2, 'offline counts at once');
      assert.equal((await app(second)).threads.inbox, 3, 'each tab counts what it has seen');
      assert.equal((await badge(server, account)).badge, 19, 'the server saw none of it');
      await context.setOffline(false);
      await Promise.all([waitForState(first, 'synced'), waitForState(second, 'synced')]);
      await agree([first, second], account, { chat: 1, inbox: 2, news: 4 });

      // After they met: both mark the same thread again, at once.
      await Promise.all([markRead(first, 'news', 9), markRead(second, 'news', 10)]);
      await agree([first, second], account, { chat: 1, inbox: 2, news: 0 });

      for (const page of [first, second]) {
        const seen = await states(page);
        assert.ok(!seen.includes('error'), `no error (no 4403): ${seen.join(' → ')}`);
      }
    } finally {
      await context.close();
    }
  });

  test('[SDK-12] a tab that finds the replica locked by another tab works with a fresh client ID; after a clean close the next tab reuses it', async () => {
    const account = 'tabs-lock';
    await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 'inbox', count: 4 });
    const context = await browser.newContext();
    try {
      const first = await openTab(context, 'first', account);
      await waitForState(first, 'synced');
      await markRead(first, 'inbox', 1);
      const firstId = await first.evaluate(() => (globalThis as unknown as PageWindow).app.clientId());
      const second = await openTab(context, 'second', account);
      assert.equal(await second.evaluate(() => (globalThis as unknown as PageWindow).app.clientIdReused()), false);
      assert.notEqual(await second.evaluate(() => (globalThis as unknown as PageWindow).app.clientId()), firstId);
      // The tab without the lock closes first: a tab that never held the lock names no client ID
      // in the metadata, so closing it after the holder would leave the next tab a fresh ID.
      await second.evaluate(() => (globalThis as unknown as PageWindow).app.close());
      await second.close();
      await first.evaluate(() => (globalThis as unknown as PageWindow).app.close());
      await first.close();

      const third = await openTab(context, 'third', account);
      assert.equal(await third.evaluate(() => (globalThis as unknown as PageWindow).app.clientIdReused()), true);
      assert.equal(await third.evaluate(() => (globalThis as unknown as PageWindow).app.clientId()), firstId);
      await waitForState(third, 'synced');
      await markRead(third, 'inbox', 3);
      await until(async () => (await badge(server, account)).badge === 1, WAIT_MS, 'the reused ID writes accepted');
      assert.ok(!(await states(third)).includes('error'));
    } finally {
      await context.close();
    }
  });
});
