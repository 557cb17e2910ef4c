/**
 * The store a node runs on (SPEC CONF-4, docs/CLUSTER.md): SQLite by default; PostgreSQL with
 * BADGESYNC_DATABASE_URL; and with BADGESYNC_REDIS_URL as well, a node of the cluster whose
 * commits are published to the other nodes.
 */
import type { Logger } from 'pino';
import { type ClusterNode, openClusterNode } from './cluster/cluster-node.js';
import { defaultNodeId } from './cluster/node-id.js';
import type { Config } from './config.js';
import { NotReady, type ReadinessProbe } from './http/readiness.js';
import { asyncStore } from './store/async-store.js';
import { PgStore } from './store/pg/pg-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { Store } from './store/store.js';

export interface OpenedStore {
  readonly store: Store;
  /** What GET /readyz checks besides draining. */
  readonly readiness: readonly ReadinessProbe[];
  /** Cluster mode: the node's link to the others. */
  readonly cluster?: ClusterNode;
  /** For the start-up log line: where the data is (never the database URL, which may hold a password). */
  readonly where: Record<string, string>;
}

export async function openStore(config: Config, log: Logger): Promise<OpenedStore> {
  if (config.databaseUrl === null) {
    // [PUSH-23] This process is the file's only writer: registrations are read from memory.
    const sqlite = new SqliteStore(config.db, { cacheRegistrations: true });
    // [STORE-17] The server listens only once the commit thread can write: after a restart every
    // device reconnects at once, and answers that wait on a thread still booting (seconds when
    // run from source) would leave their badges wrong for that long.
    await sqlite.startCommitThread();
    return { store: asyncStore(sqlite), readiness: [], where: { db: config.db } };
  }
  // Chosen before the store opens: its connections carry it (pg_stat_activity's application_name).
  const nodeId = config.nodeId ?? (config.redisUrl === null ? undefined : defaultNodeId());
  // Migrates the schema first (several nodes starting at once migrate once).
  const pg = await PgStore.open({
    url: config.databaseUrl,
    ...(nodeId === undefined ? {} : { nodeId }),
    onIdleError: (err) => log.warn({ err }, 'PostgreSQL dropped an idle connection'),
  });
  const database = { reason: NotReady.database, check: () => pg.ping() };
  if (config.redisUrl === null) return { store: pg, readiness: [database], where: { store: 'postgresql' } };
  let cluster: ClusterNode;
  try {
    cluster = await openClusterNode({ ...config, nodeId: nodeId ?? null }, pg, log);
  } catch (err) {
    await pg.close();
    throw err;
  }
  return {
    store: cluster.link.store,
    readiness: cluster.probes,
    cluster,
    where: { store: 'postgresql', cluster: cluster.nodeId },
  };
}
