/**
 * What a team does with badgesync outside this repository: the packages packed as npm would
 * publish them, installed with plain `npm` into a new project in the OS temp folder, the
 * server started through its `badgesync` bin. Every process started here runs in its own
 * process group and is killed by `killAll()` (call it in an `after` hook).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const WORKSPACE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The packages a team installs, in dependency order. */
export const PUBLISHED = ['shared', 'server', 'client'] as const;

const running = new Set<ChildProcess>();

/**
 * The environment of a team's shell: this workspace's pnpm, npm and test-runner settings and
 * any loader left out (the installed packages must run on plain Node), and better-sqlite3
 * compiled against the installed Node headers where they exist (nothing is downloaded).
 */
export function customerEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|vitest)/i.test(key) || ['NODE_OPTIONS', 'NODE_ENV', 'INIT_CWD'].includes(key)) continue;
    env[key] = value;
  }
  if (process.env.npm_config_registry !== undefined) env.npm_config_registry = process.env.npm_config_registry;
  if (existsSync('/usr/include/node/node.h')) env.npm_config_nodedir = '/usr';
  return { ...env, ...extra };
}

export interface RunOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs: number;
}

/** Runs a command to its end; rejects with its output when it fails or outlives `timeoutMs`. */
export function run(command: string, args: readonly string[], options: RunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? customerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    running.add(child);
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} took over ${options.timeoutMs} ms\n${output}`));
    }, options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code ?? signal}\n${output}`));
    });
  });
}

/** `pnpm build` at the root, then `pnpm pack` of each published package into `dest`; the tarball paths. */
export async function packWorkspace(dest: string): Promise<string[]> {
  // A build takes about 15 s on an idle machine; CI shares its cores with nothing else, a
  // developer's machine may not.
  const BUILD_TIMEOUT_MS = 5 * 60_000;
  await run('pnpm', ['build'], { cwd: WORKSPACE, env: process.env, timeoutMs: BUILD_TIMEOUT_MS });
  for (const name of PUBLISHED) {
    await run('pnpm', ['pack', '--pack-destination', dest], {
      cwd: path.join(WORKSPACE, name),
      env: process.env,
      timeoutMs: BUILD_TIMEOUT_MS,
    });
  }
  return readdirSync(dest)
    .filter((file) => file.endsWith('.tgz'))
    .map((file) => path.join(dest, file));
}

export interface CustomerServer {
  readonly port: number;
  readonly http: string;
  /** The stock provider's URL, as a team would configure its apps. */
  readonly syncUrl: string;
  readonly apiKey: string;
  /** SIGTERM to the whole process group (npx and the server under it), then the exit. */
  stop(): Promise<void>;
}

/** Start-up takes well under a second after npx finds the bin; 60 s leaves room for a loaded machine. */
const START_TIMEOUT_MS = 60_000;

/** `npx badgesync serve` in `project` on a free port, until it logs that it listens. */
export async function startCustomerServer(
  project: string,
  env: Readonly<Record<string, string>>,
): Promise<CustomerServer> {
  const child = spawn('npx', ['--no', 'badgesync', 'serve'], {
    cwd: project,
    env: customerEnv({ BADGESYNC_PORT: '0', BADGESYNC_HOST: '127.0.0.1', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`badgesync did not start in time\n${stderr}`)), START_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`badgesync exited with ${code} before listening\n${stderr}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { msg?: unknown; port?: unknown };
        if (entry.msg === 'badgesync listening' && typeof entry.port === 'number') {
          clearTimeout(timer);
          resolve(entry.port);
        }
      } catch {}
    });
  });
  return {
    port,
    http: `http://127.0.0.1:${port}`,
    syncUrl: `ws://127.0.0.1:${port}/v1/sync`,
    apiKey: env.BADGESYNC_API_KEY ?? '',
    async stop() {
      await stopGroup(child);
      await exited;
    },
  };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {} // the group is gone already
}

function groupAlive(child: ChildProcess): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A graceful shutdown takes milliseconds; past 10 s the group is killed. */
const STOP_TIMEOUT_MS = 10_000;

/** SIGTERM to the group, then waits until every process of it is gone (SIGKILL after STOP_TIMEOUT_MS). */
async function stopGroup(child: ChildProcess): Promise<void> {
  killGroup(child, 'SIGTERM');
  const until = Date.now() + STOP_TIMEOUT_MS;
  while (groupAlive(child)) {
    if (Date.now() > until) killGroup(child, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Kills every process started here (with its process group) and waits until they are gone. */
export async function killAll(): Promise<void> {
  const children = [...running];
  running.clear();
  for (const child of children) killGroup(child, 'SIGKILL');
  await Promise.all(children.map((child) => stopGroup(child)));
}
