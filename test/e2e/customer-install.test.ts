/**
 * badgesync as a team installs it: the workspace built and packed (`pnpm build`, `pnpm pack`),
 * the three tarballs and Vite installed with plain `npm` into a new project in the OS temp
 * folder, the server run through `npx badgesync`, and a page importing `@badgesync/client`
 * bundled by Vite and run in Debian's headless Chromium against that server. Nothing here
 * loads the workspace's sources or tsx: a package that only works inside the workspace fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import {
  type CustomerServer,
  customerEnv,
  killAll,
  packWorkspace,
  run,
  startCustomerServer,
  WORKSPACE,
} from '../helpers/customer-project.js';
import { eventually } from '../helpers/eventually.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
/** The Vite the project's toolchain pins; a team would bring its own. */
const VITE = 'vite@8.3.8';
/**
 * npm fetches about 90 packages and compiles better-sqlite3 from source: about 2 minutes on an
 * idle 2-core machine. 10 minutes leaves room for a loaded one.
 */
const INSTALL_TIMEOUT_MS = 10 * 60_000;
/** The build, the packing, the install and the server's start together, for the set-up hook. */
const SETUP_TIMEOUT_MS = 20 * 60_000;
/** A Vite build of one small page takes seconds. */
const BUNDLE_TIMEOUT_MS = 2 * 60_000;
/** The CLI's commands answer in well under a second; generous for a loaded machine. */
const COMMAND_TIMEOUT_MS = 60_000;
/** A local round trip takes milliseconds; generous for a loaded machine. */
const WAIT_MS = 15_000;

describe('installed from the packed tarballs, outside the workspace', () => {
  const folders: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  let project: string;
  let server: CustomerServer;
  let deviceSecret: string;

  beforeAll(async () => {
    const packs = mkdtempSync(path.join(tmpdir(), 'badgesync-packs-'));
    project = mkdtempSync(path.join(tmpdir(), 'badgesync-customer-'));
    folders.push(packs, project);
    const tarballs = await packWorkspace(packs);
    assert.equal(tarballs.length, 3, `expected three tarballs, got ${tarballs.join(', ')}`);

    writeFileSync(
      path.join(project, 'package.json'),
      `${JSON.stringify({ name: 'a-team-app', private: true, type: 'module' }, null, 2)}\n`,
    );
    await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs, VITE], {
      cwd: project,
      timeoutMs: INSTALL_TIMEOUT_MS,
    });

    const apiKey = randomBytes(12).toString('hex');
    deviceSecret = randomBytes(24).toString('hex');
    mkdirSync(path.join(project, 'data'));
    server = await startCustomerServer(project, {
      BADGESYNC_DB: path.join(project, 'data', 'badgesync.db'),
      BADGESYNC_API_KEY: apiKey,
      BADGESYNC_DEVICE_SECRET: deviceSecret,
    });
    closers.push(() => server.stop());
  }, SETUP_TIMEOUT_MS);

  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await killAll();
    for (const folder of folders) rmSync(folder, { recursive: true, force: true });
  });

  test('the packages resolve to compiled JavaScript with types, and tsx is no dependency of the server', async () => {
    const installed = (name: string) =>
      JSON.parse(readFileSync(path.join(project, 'node_modules', '@badgesync', name, 'package.json'), 'utf8')) as {
        exports: Record<string, { types: string; import: string }>;
        bin?: Record<string, string>;
        dependencies?: Record<string, string>;
        version: string;
        private?: boolean;
      };
    for (const name of ['shared', 'server', 'client']) {
      const manifest = installed(name);
      assert.equal(manifest.private, undefined, `${name} is publishable`);
      assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
      assert.ok(
        existsSync(path.join(project, 'node_modules', '@badgesync', name, 'LICENSE')),
        `${name} ships its licence`,
      );
    }
    assert.deepEqual(installed('client').exports['./node'], { types: './dist/node.d.ts', import: './dist/node.js' });
    assert.equal(installed('server').dependencies?.tsx, undefined);
    assert.equal(existsSync(path.join(project, 'node_modules', 'tsx')), false, 'nothing installed tsx');
    // The workspace protocol became the version that was packed beside it.
    assert.equal(installed('server').dependencies?.['@badgesync/shared'], installed('shared').version);
    assert.equal(installed('client').dependencies?.['@badgesync/shared'], installed('shared').version);

    // Plain Node imports both libraries (no loader, no sources).
    const probe = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const server = await import('@badgesync/server');
         const node = await import('@badgesync/client/node');
         const client = await import('@badgesync/client');
         console.log(typeof server.BadgesyncServer, typeof node.FileStorage, typeof client.BadgeSync);`,
      ],
      { cwd: project, timeoutMs: COMMAND_TIMEOUT_MS },
    );
    assert.equal(probe.trim(), 'function function function');

    // The page's TypeScript checks against the published .d.ts files alone.
    copyFileSync(path.join(WORKSPACE, 'test', 'customer', 'main.ts'), path.join(project, 'main.ts'));
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2023', 'DOM'],
          types: [],
          strict: true,
          noEmit: true,
        },
        files: ['main.ts'],
      }),
    );
    await run(process.execPath, [path.join(WORKSPACE, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], {
      cwd: project,
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
  });

  test('`npx badgesync serve` answers /healthz, and `npx badgesync token` mints a token it accepts', async () => {
    const health = await fetch(`${server.http}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });

    const token = (await mintToken('team', 'cli-device')).trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const registered = await api(server, 'PUT', '/v1/accounts/team/devices/cli-device', {}, token);
    assert.equal(registered.status, 200, JSON.stringify(registered.body));
  });

  test('a page bundled by Vite signs in, marks a thread read, and shows the badge GET /badge answers', async () => {
    await api(server, 'POST', '/v1/accounts/team/items', { thread: 'inbox', count: 5 });
    const site = await bundlePage();
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    closers.push(() => browser.close());
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const token = (await mintToken('team', 'web-1')).trim();
    const query = new URLSearchParams({ server: server.syncUrl, account: 'team', device: 'web-1', token });
    await page.goto(`${site}/?${query}`);

    // The page's text, as a person sees it (the test's own code has no DOM types).
    const shows = (id: string, text: string) =>
      page.waitForFunction(`document.getElementById('${id}')?.textContent === '${text}'`, undefined, {
        timeout: WAIT_MS,
      });
    await shows('state', 'synced');
    assert.equal(await page.textContent('#badge'), '5');

    await page.evaluate(() =>
      (globalThis as unknown as { app: { markRead(t: string, s: number): Promise<void> } }).app.markRead('inbox', 2),
    );
    await eventually(async () => (await badge(server, 'team')).badge === 3, WAIT_MS, 'GET /badge to answer 3');
    await shows('badge', '3');
    assert.equal(await page.textContent('#badge'), String((await badge(server, 'team')).badge));
    assert.deepEqual(errors, []);
  });

  /** `npx badgesync token` with the server's device secret, as a team's backend script would. */
  function mintToken(account: string, device: string): Promise<string> {
    return run('npx', ['--no', 'badgesync', 'token', '--account', account, '--device', device], {
      cwd: project,
      env: customerEnv({ BADGESYNC_DEVICE_SECRET: deviceSecret }),
      timeoutMs: COMMAND_TIMEOUT_MS,
    });
  }

  /** `vite build` of test/customer in the project, served on 127.0.0.1; the page's origin. */
  async function bundlePage(): Promise<string> {
    const source = path.join(WORKSPACE, 'test', 'customer');
    for (const file of ['index.html', 'main.ts']) copyFileSync(path.join(source, file), path.join(project, file));
    await run('npx', ['--no', 'vite', 'build', '--outDir', 'site', '--emptyOutDir'], {
      cwd: project,
      timeoutMs: BUNDLE_TIMEOUT_MS,
    });
    const root = path.join(project, 'site');
    const site = http.createServer((req, res) => {
      const pathname = new URL(req.url ?? '/', 'http://x').pathname;
      const file = path.join(root, pathname === '/' ? 'index.html' : path.normalize(pathname));
      const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'text/plain';
      readFile(file).then(
        (body) => res.writeHead(200, { 'content-type': `${type}; charset=utf-8` }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => site.close(() => resolve())));
    return `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
  }
});
