/**
 * Child processes of a benchmark: every one started here is killed when the benchmark
 * exits, however it exits (normal end, a throw, Ctrl-C, SIGTERM from run.ts).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** The bench/ folder: scripts are spawned from here so `--import tsx` resolves. */
export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root. */
export const ROOT_DIR = path.resolve(BENCH_DIR, '..');

const running = new Set<ChildProcess>();
const folders = new Set<string>();

function killEverything(): void {
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  running.clear();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}

/**
 * A new folder under the OS temp dir (`${prefix}XXXXXX`), removed when the benchmark exits
 * however it exits; removing it earlier is fine.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  folders.add(dir);
  return dir;
}

process.once('exit', killEverything);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killEverything();
    process.exit(130);
  });
}

export interface SpawnOptions {
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Extra node flags before the script (e.g. --cpu-prof). */
  readonly nodeFlags?: readonly string[];
  /** Open an IPC channel (for workers). */
  readonly ipc?: boolean;
  /** Pass stderr through to ours (default: collected, shown on failure). */
  readonly inheritStderr?: boolean;
}

export interface Child {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything the child wrote to stderr so far (when not inherited). */
  stderr(): string;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL; resolves when the process is gone. */
  kill(): Promise<void>;
}

/** Starts `node --import tsx <script>` (a path relative to bench/ or absolute), tracked. */
export function spawnScript(script: string, options: SpawnOptions = {}): Child {
  const child = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), '--import', 'tsx', script, ...(options.args ?? [])],
    {
      cwd: options.cwd ?? BENCH_DIR,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', options.inheritStderr ? 'inherit' : 'pipe', ...(options.ipc ? ['ipc' as const] : [])],
      // Structured clone over IPC: latency samples travel as Float64Arrays, not JSON text.
      serialization: 'advanced',
    },
  );
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  running.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
  });
  const gone = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    process: child,
    pid: child.pid,
    stderr: () => stderr,
    exited,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await gone('SIGTERM');
      clearTimeout(timer);
    },
    kill: () => gone('SIGKILL'),
  };
}

/**
 * Resolves with the first stdout line `match` accepts (its non-undefined answer); rejects
 * when the child exits first or after `timeoutMs`. Later lines keep being read (and
 * dropped), so the child never blocks on a full pipe.
 */
export function waitForLine<T>(child: Child, match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(
      () => finish(new Error(`no expected output within ${timeoutMs} ms\n${child.stderr()}`)),
      timeoutMs,
    );
    const finish = (err: Error | null, value?: T) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err === null) resolve(value as T);
      else reject(err);
    };
    child.exited.then(
      (code) => finish(new Error(`process exited with ${code} before it was ready\n${child.stderr()}`)),
      () => {},
    );
    const stdout = child.process.stdout;
    if (stdout === null) return finish(new Error('the child has no stdout pipe'));
    createInterface({ input: stdout }).on('line', (line) => {
      if (done) return;
      const value = match(line);
      if (value !== undefined) finish(null, value);
    });
  });
}
