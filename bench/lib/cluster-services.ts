/**
 * The machine's PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379)
 * for the cluster benchmark, reached through their command-line clients (psql, redis-cli):
 * a fresh database per run (dropped after), a random key prefix per run (its keys deleted
 * after, never FLUSHDB), and the CPU their processes spend. `bash scripts/setup.sh` installs
 * and starts both when missing.
 */
import { execFile } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { cpuSeconds } from './proc.js';

const run = promisify(execFile);

const PG_HOST = '127.0.0.1';
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Runs one SQL statement against the maintenance database; its rows as psql -tA prints them. */
async function psql(sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-h', PG_HOST, '-U', 'postgres', '-d', 'postgres', '-tAc', sql]);
  return stdout.trim();
}

/** Runs one Redis command; its reply as redis-cli prints it (raw). */
async function redis(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', '--raw', ...args]);
  return stdout.trim();
}

/** Whether both services answer (the benchmark skips the PostgreSQL setups when not). */
export async function servicesReachable(): Promise<string | null> {
  try {
    await psql('SELECT 1');
  } catch (err) {
    return `PostgreSQL at ${PG_HOST}:5432 does not answer (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
  try {
    if ((await redis('PING')) !== 'PONG') return 'Redis at 127.0.0.1:6379 does not answer PONG';
  } catch (err) {
    return `Redis at 127.0.0.1:6379 does not answer (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
  return null;
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  drop(): Promise<void>;
}

/** A fresh database `badgesync_bench_<pid>_<random>`; `drop()` removes it (connections forced off). */
export async function createDatabase(): Promise<BenchDatabase> {
  const name = `badgesync_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await psql(`CREATE DATABASE ${name}`);
  return {
    name,
    url: `postgres://postgres@${PG_HOST}:5432/${name}`,
    drop: async () => {
      await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A random key prefix of our own on the shared Redis. */
export function redisPrefix(): string {
  return `badgesync-bench-${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** Deletes every key under `prefix` (SCAN + DEL, never FLUSHDB: others share this Redis). */
export async function deleteRedisKeys(prefix: string): Promise<void> {
  const keys = (await redis('--scan', '--pattern', `${prefix}*`)).split('\n').filter((k) => k !== '');
  for (let i = 0; i < keys.length; i += 100) await redis('DEL', ...keys.slice(i, i + 100));
}

/**
 * A VAPID pair for every node of one cluster: nodes starting on an empty database would
 * otherwise each generate their own (docs/CLUSTER.md: configure the pair on every node).
 */
export function vapidEnv(): Record<string, string> {
  const vapid = createECDH('prime256v1');
  vapid.generateKeys();
  return {
    BADGESYNC_VAPID_PUBLIC_KEY: vapid.getPublicKey().toString('base64url'),
    BADGESYNC_VAPID_PRIVATE_KEY: Buffer.concat([Buffer.alloc(32), vapid.getPrivateKey()])
      .subarray(-32)
      .toString('base64url'),
  };
}

/** CPU seconds Redis has used so far (INFO cpu: user + system, every client's work, not only ours). */
export async function redisCpuSeconds(): Promise<number> {
  const info = await redis('INFO', 'cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/**
 * A CPU meter over the PostgreSQL backends serving one database (its nodes' pool
 * connections, from pg_stat_activity): `lap()` answers their CPU seconds since the start.
 * A backend opened after the start is not counted (the warm-up opens the pools first); the
 * server's shared processes (WAL writer, checkpointer) are not either.
 */
export async function pgBackendMeter(database: string): Promise<{ lap(): number; backends: number }> {
  const pids = (await psql(`SELECT pid FROM pg_stat_activity WHERE datname = '${database}'`))
    .split('\n')
    .filter((p) => p !== '')
    .map(Number);
  const read = (pid: number) => {
    try {
      return cpuSeconds(pid);
    } catch {
      // The backend ended (its connection closed); its time since the start is lost.
      return Number.NaN;
    }
  };
  const start = pids.map(read);
  return {
    backends: pids.length,
    lap: () =>
      pids.reduce((sum, pid, i) => {
        const used = read(pid) - (start[i] as number);
        return Number.isFinite(used) ? sum + used : sum;
      }, 0),
  };
}
