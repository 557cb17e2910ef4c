/**
 * The real server process for end-to-end tests: `node --import tsx server/src/main.ts serve`
 * on port 0 with a SQLite file in a temp folder. Every process started here is killed by
 * `stopAll()` (call it in an `after` hook), whatever the test did.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../server');
/** Start-up normally takes well under a second; 20 s leaves room for a loaded CI machine. */
const START_TIMEOUT_MS = 20_000;

export interface StartOptions {
  /** Extra environment (BADGESYNC_HEARTBEAT_MS, …). */
  readonly env?: Readonly<Record<string, string>>;
  /** Reuse this folder (and its database): a restart. */
  readonly dir?: string;
  readonly apiKey?: string;
  readonly deviceSecret?: string;
  /** The process's open-file limit (`ulimit -n`), for tests of what happens near it. */
  readonly fileLimit?: number;
  /**
   * Node arguments instead of the server's (`--import tsx src/main.ts serve`, run in
   * server/): a stand-in process that prints the same listening line, for tests of the
   * tests' own machinery.
   */
  readonly args?: readonly string[];
  /** How long the start may take (default START_TIMEOUT_MS). */
  readonly startTimeoutMs?: number;
}

export interface ServerProcess {
  readonly port: number;
  readonly http: string;
  /** ws://127.0.0.1:port/v1/sync — the y-websocket serverUrl. */
  readonly syncUrl: string;
  readonly apiKey: string;
  readonly deviceSecret: string;
  readonly dir: string;
  readonly db: string;
  readonly child: ChildProcess;
  /** Every log line (parsed JSON where possible). */
  readonly logs: Array<Record<string, unknown>>;
  /** Everything the process wrote to stderr so far (an uncaught exception's stack lands here). */
  readonly stderr: string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, then resolves when the process is gone. */
  kill(): Promise<void>;
  /** A new process on the same folder, secrets, environment and start timeout. */
  restart(env?: Readonly<Record<string, string>>): Promise<ServerProcess>;
}

const running = new Set<ChildProcess>();
const folders = new Set<string>();

export async function startServer(options: StartOptions = {}): Promise<ServerProcess> {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'badgesync-e2e-'));
  if (options.dir === undefined) folders.add(dir);
  const db = path.join(dir, 'badgesync.db');
  const apiKey = options.apiKey ?? randomBytes(12).toString('hex');
  const deviceSecret = options.deviceSecret ?? randomBytes(24).toString('hex');
  const env = {
    ...process.env,
    BADGESYNC_PORT: '0',
    BADGESYNC_HOST: '127.0.0.1',
    BADGESYNC_DB: db,
    BADGESYNC_API_KEY: apiKey,
    BADGESYNC_DEVICE_SECRET: deviceSecret,
    BADGESYNC_LOG_LEVEL: 'info',
    ...options.env,
  };
  const args = options.args ?? ['--import', 'tsx', 'src/main.ts', 'serve'];
  // Through a shell only to lower the limit; `exec` keeps the server's pid the child's pid.
  const child = spawn(
    options.fileLimit === undefined ? process.execPath : '/bin/sh',
    options.fileLimit === undefined
      ? args
      : ['-c', `ulimit -n ${options.fileLimit} && exec "$0" "$@"`, process.execPath, ...args],
    {
      cwd: SERVER_DIR,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in time\n${stderr}`)),
      options.startTimeoutMs ?? START_TIMEOUT_MS,
    );
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${stderr}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = { msg: line };
      }
      logs.push(entry);
      if (entry.msg === 'badgesync listening') {
        clearTimeout(timer);
        resolve(entry.port as number);
      }
    });
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  const self: ServerProcess = {
    port,
    http: `http://127.0.0.1:${port}`,
    syncUrl: `ws://127.0.0.1:${port}/v1/sync`,
    apiKey,
    deviceSecret,
    dir,
    db,
    child,
    logs,
    get stderr() {
      return stderr;
    },
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    restart(more) {
      return startServer({
        dir,
        apiKey,
        deviceSecret,
        env: { ...options.env, ...more },
        ...(options.fileLimit === undefined ? {} : { fileLimit: options.fileLimit }),
        ...(options.args === undefined ? {} : { args: options.args }),
        ...(options.startTimeoutMs === undefined ? {} : { startTimeoutMs: options.startTimeoutMs }),
      });
    },
  };
  return self;
}

/** Kills every server this module started and removes their folders. */
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}
