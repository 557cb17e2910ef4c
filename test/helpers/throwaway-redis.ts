/**
 * A Redis server of the test's own (`redis-server --port <free> --save '' --appendonly no`), for
 * tests that kill and restart Redis: the machine's Redis on 6379 serves everyone else and is
 * never restarted. Nothing is persisted, so a restart comes back empty, as a Redis without
 * persistence does after a crash.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** redis-server is ready in milliseconds; 10 s leaves room for a loaded 2-core machine. */
const REDIS_START_TIMEOUT_MS = 10_000;

export interface ThrowawayRedis {
  readonly port: number;
  readonly url: string;
  /** Whether the server process is running now. */
  readonly running: boolean;
  /** `kill -9` of the server; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty); resolves once it accepts connections. */
  start(): Promise<void>;
  /** Runs one command on it; its reply as redis-cli prints it (raw). */
  command(...args: string[]): Promise<string>;
}

/** A port no one listens on now (bound and let go: nothing else on loopback asks for it meanwhile). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Starts a throwaway Redis; `kill()` it in teardown. */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async (): Promise<void> => {
    if (child !== null) throw new Error('the throwaway Redis is already running');
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = started;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start in time\n${output}`)),
        REDIS_START_TIMEOUT_MS,
      );
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}\n${output}`));
      });
      started.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      started.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    started.once('exit', () => {
      if (child === started) child = null;
    });
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    async kill() {
      const running = child;
      if (running === null) return;
      const gone = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGKILL');
      await gone;
      child = null;
    },
    start,
    async command(...args) {
      const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--raw', ...args]);
      return stdout.trim();
    },
  };
}
