/**
 * What the cluster tests share: the machine's Redis (never flushed: each run works under its
 * own random key prefix and deletes its keys in teardown), a throwaway `redis-server` child
 * for the tests that restart Redis for real, and polling for "eventually".
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { pino } from 'pino';

export const REDIS_URL = process.env.BADGESYNC_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const silentLog = pino({ level: 'silent' });

/** A key prefix no other run (or cluster) uses. */
export function randomPrefix(): string {
  return `badgesync-test-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix` (SCAN, never FLUSHDB). Answers how many. */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** Polls `check` every 25 ms until it answers true; fails after `boundMs` naming `what`. */
export async function eventually(
  what: string,
  boundMs: number,
  check: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The Redis client ID of the connection named `name` (CLIENT SETNAME), from CLIENT LIST. */
export async function clientIdByName(redis: Redis, name: string): Promise<string | undefined> {
  const list = await redis.client('LIST');
  for (const line of String(list).split('\n')) {
    const fields = Object.fromEntries(line.split(' ').map((pair) => pair.split('=', 2) as [string, string]));
    if (fields.name === name) return fields.id;
  }
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export const REDIS_SERVER_BINARY = 'redis-server';

/** Whether `redis-server` is on PATH: the tests that restart Redis for real skip without it. */
export const HAS_REDIS_SERVER = spawnSync(REDIS_SERVER_BINARY, ['--version'], { stdio: 'ignore' }).status === 0;
export const NO_REDIS_SERVER =
  'SKIPPED: no `redis-server` binary on PATH for a throwaway Redis to restart (bash scripts/setup.sh installs it)';

/** 10 s for a local redis-server to answer PING after it was started: it takes milliseconds. */
const THROWAWAY_START_MS = 10_000;

/**
 * A `redis-server` child on a free port, without persistence, that a test may `kill -9` and
 * start again on the same port (an empty Redis, as after a real crash). `stop()` in teardown.
 */
export class ThrowawayRedis {
  #child: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (again) on its port and waits for PING. */
  async restart(): Promise<void> {
    const child = spawn(
      REDIS_SERVER_BINARY,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.#child = child;
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    // Refused connections while it starts are expected; the poll below retries.
    probe.on('error', () => {});
    try {
      await eventually(`redis-server on ${this.port} answers PING`, THROWAWAY_START_MS, async () => {
        if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG';
        } catch {
          probe.disconnect();
          return false;
        }
      });
    } finally {
      probe.disconnect();
    }
  }

  /** SIGKILL, and waits until the process is gone. */
  async kill9(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill9();
  }
}
