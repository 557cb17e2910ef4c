/**
 * Serves the browser test page: `index.html`, the page bundled with esbuild (the SDK and
 * its dependencies in one ES module), and `/token`, which mints device tokens the way an
 * app's backend would. Port 0 on 127.0.0.1; close() in teardown.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { deviceToken } from '../helpers/api-client.js';
import type { ServerProcess } from '../helpers/server-process.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** One static file. */
export interface PageFile {
  readonly type: string;
  readonly body: string;
}

export interface PageServer {
  /** http://127.0.0.1:port */
  readonly url: string;
  /** The static files by path ('/', '/bundle.js'): what a service worker would cache as the app shell. */
  readonly files: ReadonlyMap<string, PageFile>;
  /** Requests served, by path (without the query). */
  readonly hits: Map<string, number>;
  /** The page URL for one device. */
  pageUrl(params: { server: string; account: string; device: string; heartbeat?: number }): string;
  close(): Promise<void>;
}

/** Bundles page.ts for the browser (esbuild, ES module, source maps inline for readable stacks). */
export async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(HERE, 'page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    sourcemap: 'inline',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced nothing');
  return output.text;
}

export async function startPageServer(server: Pick<ServerProcess, 'deviceSecret'>): Promise<PageServer> {
  const files = new Map<string, PageFile>([
    ['/', { type: 'text/html; charset=utf-8', body: await readFile(path.join(HERE, 'index.html'), 'utf8') }],
    ['/bundle.js', { type: 'text/javascript; charset=utf-8', body: await bundlePage() }],
  ]);
  const hits = new Map<string, number>();
  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    if (url.pathname === '/token') {
      const account = url.searchParams.get('account') ?? '';
      const device = url.searchParams.get('device') ?? '';
      deviceToken(server, account, device).then(
        (token) => {
          res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
          res.end(token);
        },
        () => {
          res.writeHead(400);
          res.end();
        },
      );
      return;
    }
    const file = files.get(url.pathname);
    if (file === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' });
    res.end(file.body);
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  return {
    url,
    files,
    hits,
    pageUrl: ({ server: ws, account, device, heartbeat }) => {
      const query = new URLSearchParams({ server: ws, account, device });
      if (heartbeat !== undefined) query.set('heartbeat', String(heartbeat));
      return `${url}/?${query}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => resolve());
      }),
  };
}
