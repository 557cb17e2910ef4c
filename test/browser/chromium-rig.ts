/**
 * What every SDK-in-Chromium test starts: the real server, the page server for the bundled
 * test page, and Debian's headless Chromium; plus opening one SDK page and waiting for its
 * sync state. Each browser context is one device (its own IndexedDB and localStorage).
 */
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import type { PageWindow } from './page-api.js';
import { type PageServer, startPageServer } from './page-server.js';

export const CHROMIUM = '/usr/bin/chromium';
/** Headless, and nothing that talks to the network on its own (update checks, sync, QUIC probes). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

export interface ChromiumRig {
  readonly server: ServerProcess;
  readonly pages: PageServer;
  readonly browser: Browser;
}

/** Starts the server, then the page server and Chromium (with `extraArgs` after CHROMIUM_ARGS). */
export async function startChromiumRig(extraArgs: readonly string[] = []): Promise<ChromiumRig> {
  const server = await startServer();
  const [pages, browser] = await Promise.all([
    startPageServer(server),
    chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...extraArgs] }),
  ]);
  return { server, pages, browser };
}

/** Teardown for startChromiumRig; safe when the start failed part way (a field still unset). */
export async function stopChromiumRig(rig: { readonly browser?: Browser; readonly pages?: PageServer }): Promise<void> {
  await rig.browser?.close();
  await rig.pages?.close();
  await stopAll();
}

/** A new page in `context` with the SDK page loaded and ready; page errors are logged as `[name]`. */
export async function openSdkPage(
  context: BrowserContext,
  pages: PageServer,
  name: string,
  params: Parameters<PageServer['pageUrl']>[0],
): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err));
  await page.goto(pages.pageUrl(params));
  await page.evaluate(() => (globalThis as unknown as PageWindow).app.ready);
  return page;
}

/** Waits until the page's SDK reports sync state `value`. */
export async function waitForSyncState(page: Page, value: string, timeoutMs: number): Promise<void> {
  await page.waitForFunction((v) => (globalThis as unknown as PageWindow).app.status()?.state === v, value, {
    timeout: timeoutMs,
  });
}
