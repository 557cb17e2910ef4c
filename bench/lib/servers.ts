/**
 * The three servers the fan-out benchmark compares, each in its own process on port 0:
 * badgesync as in production (validating and persisting every update to SQLite with
 * synchronous=FULL), the reference y-websocket server, and a bare relay.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { type Child, ROOT_DIR, spawnScript, tempDir, waitForLine } from './children.js';

export const SERVER_KINDS = ['badgesync', 'reference', 'relay'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/** Start-up takes about a second; 30 s leaves room for a machine busy with other work. */
const START_TIMEOUT_MS = 30_000;

export interface RunningServer {
  readonly kind: ServerKind;
  readonly child: Child;
  readonly pid: number;
  readonly port: number;
  /** ws://127.0.0.1:port/v1/sync (every kind serves rooms under that path). */
  readonly syncUrl: string;
  readonly http: string;
  /** badgesync's API key and device secret (random per start; unused by the others). */
  readonly apiKey: string;
  readonly deviceSecret: string;
  /** badgesync's data folder and database (null for the others). */
  readonly dir: string | null;
  readonly db: string | null;
  /** Milliseconds from spawn to "listening". */
  readonly startMs: number;
  /** SIGTERM (graceful), then removes its folder unless `keepDir`. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}

export interface StartOptions {
  /** badgesync: reuse this folder and its database. */
  readonly dir?: string;
  readonly apiKey?: string;
  readonly deviceSecret?: string;
  /** Extra environment (BADGESYNC_*). */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra node flags (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
  /** Longest wait for "listening" (default START_TIMEOUT_MS). */
  readonly startTimeoutMs?: number;
}

export async function startServer(kind: ServerKind, options: StartOptions = {}): Promise<RunningServer> {
  const apiKey = options.apiKey ?? randomBytes(12).toString('hex');
  const deviceSecret = options.deviceSecret ?? randomBytes(24).toString('hex');
  const ownDir = kind === 'badgesync' && options.dir === undefined;
  const dir = kind === 'badgesync' ? (options.dir ?? tempDir('badgesync-bench-')) : null;
  const db = dir === null ? null : path.join(dir, 'badgesync.db');
  const began = performance.now();
  let child: Child;
  let port: number;
  if (kind === 'badgesync') {
    child = spawnScript('src/main.ts', {
      cwd: path.join(ROOT_DIR, 'server'),
      args: ['serve'],
      nodeFlags: options.nodeFlags ?? [],
      env: {
        BADGESYNC_PORT: '0',
        BADGESYNC_HOST: '127.0.0.1',
        BADGESYNC_DB: db as string,
        BADGESYNC_API_KEY: apiKey,
        BADGESYNC_DEVICE_SECRET: deviceSecret,
        BADGESYNC_LOG_LEVEL: 'info',
        ...options.env,
      },
    });
    port = await waitForLine(
      child,
      (line) => {
        if (!line.includes('badgesync listening')) return undefined;
        return (JSON.parse(line) as { port: number }).port;
      },
      options.startTimeoutMs ?? START_TIMEOUT_MS,
    );
  } else {
    child = spawnScript(`servers/${kind}.ts`, {
      nodeFlags: options.nodeFlags ?? [],
      env: { PORT: '0', ...options.env },
    });
    port = await waitForLine(
      child,
      (line) => (line.startsWith('listening ') ? Number(line.slice(10)) : undefined),
      START_TIMEOUT_MS,
    );
  }
  const startMs = performance.now() - began;
  return {
    kind,
    child,
    pid: child.pid,
    port,
    syncUrl: `ws://127.0.0.1:${port}/v1/sync`,
    http: `http://127.0.0.1:${port}`,
    apiKey,
    deviceSecret,
    dir,
    db,
    startMs,
    async stop(stopOptions = {}) {
      await child.stop(15_000);
      if (ownDir && dir !== null && !stopOptions.keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls badgesync's backend API; throws on a non-2xx answer. */
export async function api<T = unknown>(
  server: Pick<RunningServer, 'http' | 'apiKey'>,
  method: string,
  route: string,
  body?: unknown,
): Promise<T> {
  const res = await fetch(`${server.http}${route}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
