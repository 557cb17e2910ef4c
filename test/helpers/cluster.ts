/**
 * Cluster-mode test rig (docs/CLUSTER.md): a fresh PostgreSQL database per test file, a random
 * Redis key prefix, and server processes started as nodes of that cluster. The machine's
 * PostgreSQL (127.0.0.1:5432, user postgres, trust) and Redis (127.0.0.1:6379) are reached
 * through their command-line clients; nothing else on them is touched (the prefix's keys and
 * the database are removed in `drop()`, never FLUSHDB).
 */
import { execFile, spawn } from 'node:child_process';
import { createECDH, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { type ServerProcess, startServer } from './server-process.js';

const run = promisify(execFile);

export const PG_HOST = '127.0.0.1';
/** How long one node may take to start (see `start`). */
const NODE_START_TIMEOUT_MS = 90_000;
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** Runs one SQL statement against the maintenance database. */
async function psql(sql: string): Promise<string> {
  const { stdout } = await run('psql', ['-h', PG_HOST, '-U', 'postgres', '-d', 'postgres', '-tAc', sql]);
  return stdout.trim();
}

/** Runs one Redis command; its reply as redis-cli prints it (raw). */
export async function redis(...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', '--raw', ...args]);
  return stdout.trim();
}

export interface ClusterRig {
  /** The database's name (`pg_stat_activity.datname`). */
  readonly database: string;
  readonly databaseUrl: string;
  readonly prefix: string;
  readonly apiKey: string;
  readonly deviceSecret: string;
  /** Starts a node of this cluster (its own process, port and node ID). */
  start(nodeId: string, env?: Readonly<Record<string, string>>): Promise<ServerProcess>;
  /** Drops the database and deletes the prefix's keys (on the machine's Redis). */
  drop(): Promise<void>;
}

/**
 * A fresh database and prefix (dropped by `drop()`), or with `keep`, that database (created when
 * missing, kept by `drop()`) and a fresh prefix: `pnpm cluster`'s demo database. With
 * `redisUrl`, the nodes use that Redis (a test's throwaway one, see throwaway-redis.ts) instead
 * of the machine's, and `drop()` leaves its keys alone: the instance goes with the test.
 */
export async function clusterRig(
  options: { readonly keep?: string; readonly redisUrl?: string } = {},
): Promise<ClusterRig> {
  const suffix = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const database = options.keep ?? `badgesync_test_${suffix}`;
  if (options.keep === undefined) await psql(`CREATE DATABASE ${database}`);
  else if ((await psql(`SELECT 1 FROM pg_database WHERE datname = '${database}'`)) !== '1') {
    await psql(`CREATE DATABASE ${database}`);
  }
  const prefix = `badgesync-test-${suffix}:`;
  const databaseUrl = `postgres://postgres@${PG_HOST}:5432/${database}`;
  const apiKey = randomBytes(12).toString('hex');
  const deviceSecret = randomBytes(24).toString('hex');
  // Configured, not generated: nodes starting together would each generate and keep their
  // own pair (docs/CLUSTER.md: set the secrets and the VAPID pair on every node).
  const vapid = createECDH('prime256v1');
  vapid.generateKeys();
  const vapidEnv = {
    BADGESYNC_VAPID_PUBLIC_KEY: vapid.getPublicKey().toString('base64url'),
    BADGESYNC_VAPID_PRIVATE_KEY: Buffer.concat([Buffer.alloc(32), vapid.getPrivateKey()])
      .subarray(-32)
      .toString('base64url'),
  };
  return {
    database,
    databaseUrl,
    prefix,
    apiKey,
    deviceSecret,
    start(nodeId, env = {}) {
      return startServer({
        // Three nodes (tsx, a PostgreSQL pool, two Redis connections each) starting together on
        // a loaded 2-core machine took over 20 s; a node that cannot start still fails the test.
        startTimeoutMs: NODE_START_TIMEOUT_MS,
        apiKey,
        deviceSecret,
        env: {
          BADGESYNC_DATABASE_URL: databaseUrl,
          BADGESYNC_REDIS_URL: options.redisUrl ?? REDIS_URL,
          BADGESYNC_REDIS_PREFIX: prefix,
          BADGESYNC_NODE_ID: nodeId,
          ...vapidEnv,
          ...env,
        },
      });
    },
    async drop() {
      if (options.keep === undefined) await psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      if (options.redisUrl !== undefined) return;
      const keys = (await redis('--scan', '--pattern', `${prefix}*`)).split('\n').filter((k) => k !== '');
      for (let i = 0; i < keys.length; i += 100) await redis('DEL', ...keys.slice(i, i + 100));
    },
  };
}

/**
 * Kills the Redis connections whose name holds `nameHolds` (CLIENT KILL by ID): how a test
 * cuts one node off the bus without touching anyone else's connections. The number killed.
 */
export async function killRedisClients(nameHolds: string): Promise<number> {
  const list = await redis('CLIENT', 'LIST');
  let killed = 0;
  for (const line of list.split('\n')) {
    const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
    const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
    if (id === undefined || !name.includes(nameHolds)) continue;
    await redis('CLIENT', 'KILL', 'ID', id);
    killed++;
  }
  return killed;
}

/**
 * How often `cutPgConnections` terminates the node's connections: more often than the pool
 * opens a fresh one on a loaded machine, so the node's calls keep meeting killed connections
 * (opening, idle, or in a transaction) rather than a run of healthy ones.
 */
const CUT_EVERY_S = 0.02;

export interface PgCut {
  /** Connections terminated so far. */
  readonly terminated: number;
  /** Stops terminating; the number terminated in all. */
  stop(): Promise<number>;
}

/**
 * Terminates every connection a node holds to `database` (`pg_terminate_backend`), again and
 * again until `stop()`: the connections are found by the node ID its pool names in
 * `application_name` (`badgesync:<node>`, SPEC STORE-29). One psql process runs the statement
 * every CUT_EVERY_S (`\watch`), so the rounds are not slowed by starting a process each.
 * Node IDs here are plain letters, digits and dashes (no quoting needed).
 */
export function cutPgConnections(database: string, nodeId: string): PgCut {
  if (!/^[\w-]+$/.test(nodeId) || !/^\w+$/.test(database)) throw new Error('a plain node ID and database name');
  const child = spawn('psql', ['-h', PG_HOST, '-U', 'postgres', '-d', 'postgres', '-tAq'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let terminated = 0;
  let errors = '';
  createInterface({ input: child.stdout }).on('line', (line) => {
    const n = Number(line.trim());
    if (line.trim() !== '' && Number.isSafeInteger(n)) terminated += n;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stdin.end(
    `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
      WHERE datname = '${database}' AND application_name = 'badgesync:${nodeId}' \\watch ${CUT_EVERY_S}\n`,
  );
  return {
    get terminated() {
      return terminated;
    },
    async stop() {
      if (child.exitCode !== null) throw new Error(`psql stopped by itself (${child.exitCode}): ${errors}`);
      child.kill('SIGTERM');
      await exited;
      return terminated;
    },
  };
}
