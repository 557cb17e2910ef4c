/**
 * The real server process for server tests that need one: `node --import tsx src/main.ts
 * serve` on port 0, on a SQLite file the test chose, its JSON log lines collected. Every
 * process started here is killed by `stopAllServers()` (call it in an `afterAll` hook).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const SERVER_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
/** Start-up takes well under a second (tsx included); 20 s leaves room for a loaded machine. */
const START_TIMEOUT_MS = 20_000;

export interface ServerProcess {
  readonly port: number;
  readonly http: string;
  /** Every log line, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** SIGTERM (a graceful stop), then the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();

export async function startServer(db: string, env: Readonly<Record<string, string>>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    cwd: SERVER_DIR,
    env: {
      ...process.env,
      BADGESYNC_PORT: '0',
      BADGESYNC_HOST: '127.0.0.1',
      BADGESYNC_DB: db,
      BADGESYNC_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  void exited.then(() => running.delete(child));
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time\n${stderr}`)), START_TIMEOUT_MS);
    void exited.then((code) => {
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
  return {
    port,
    http: `http://127.0.0.1:${port}`,
    logs,
    stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** Kills every server this module started that still runs. */
export async function stopAllServers(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
