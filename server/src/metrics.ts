/** Prometheus metrics (SPEC OPS-2), one registry per server instance. */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'badgesync_connections', help: 'open sync connections', registers: [] });
  readonly loadedDocs = new Gauge({
    name: 'badgesync_loaded_docs',
    help: 'account documents in memory',
    registers: [],
  });
  readonly updatesApplied = new Counter({
    name: 'badgesync_updates_applied_total',
    help: 'device updates accepted and applied',
    registers: [],
  });
  readonly updatesRefused = new Counter({
    name: 'badgesync_updates_refused_total',
    help: 'device updates refused, by reason',
    labelNames: ['reason'],
    registers: [],
  });
  readonly updatesDeferred = new Counter({
    name: 'badgesync_updates_not_yet_total',
    help: 'device updates dropped without closing because the server lacks their dependencies',
    registers: [],
  });
  readonly documentsMigrated = new Counter({
    name: 'badgesync_documents_migrated_total',
    help: 'account documents converted from contract v1 to v2 as they loaded (SPEC STORE-16)',
    registers: [],
  });
  readonly budgetRefusals = new Counter({
    name: 'badgesync_budget_refusals_total',
    help: 'updates and API calls refused for going over a budget (SPEC BUDGET-*), by setting',
    labelNames: ['budget'],
    registers: [],
  });
  readonly closes = new Counter({
    name: 'badgesync_connection_closes_total',
    help: 'connections closed by the server, by code',
    labelNames: ['code'],
    registers: [],
  });
  readonly awarenessDropped = new Counter({
    name: 'badgesync_awareness_dropped_total',
    help: "awareness entries not relayed, by reason (another device's client ID, over the account budget, …)",
    labelNames: ['reason'],
    registers: [],
  });
  readonly awarenessRefused = new Counter({
    name: 'badgesync_awareness_refused_total',
    help: 'awareness messages that closed their connection: state_bytes, message_entries, connection_clients (4413) or malformed (4400)',
    labelNames: ['reason'],
    registers: [],
  });
  readonly connectionsRefused = new Counter({
    name: 'badgesync_connections_refused_total',
    help: 'sockets and sync upgrades refused by a connection cap, by cap',
    labelNames: ['cap'],
    registers: [],
  });
  readonly heartbeatTerminations = new Counter({
    name: 'badgesync_heartbeat_terminations_total',
    help: 'connections terminated for silence',
    registers: [],
  });
  readonly ingestSeconds = new Histogram({
    name: 'badgesync_ingest_seconds',
    help: 'POST items: request to durable answer',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [],
  });
  readonly storeCommitSeconds = new Histogram({
    name: 'badgesync_store_commit_seconds',
    help: 'one group commit',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [],
  });
  readonly storeBatchUpdates = new Histogram({
    name: 'badgesync_store_batch_updates',
    help: 'updates per group commit',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
    registers: [],
  });
  readonly httpRequests = new Counter({
    name: 'badgesync_http_requests_total',
    help: 'backend API requests by route and status',
    labelNames: ['route', 'status'],
    registers: [],
  });

  readonly httpClientAborts = new Counter({
    name: 'badgesync_http_client_aborts_total',
    help: 'backend API requests the client cut short (a body shorter than declared, a reset) by route',
    labelNames: ['route'],
    registers: [],
  });

  constructor() {
    for (const metric of [
      this.connections,
      this.loadedDocs,
      this.updatesApplied,
      this.updatesRefused,
      this.updatesDeferred,
      this.documentsMigrated,
      this.budgetRefusals,
      this.closes,
      this.awarenessDropped,
      this.awarenessRefused,
      this.connectionsRefused,
      this.heartbeatTerminations,
      this.ingestSeconds,
      this.storeCommitSeconds,
      this.storeBatchUpdates,
      this.httpRequests,
      this.httpClientAborts,
    ] as const) {
      this.registry.registerMetric(metric as Parameters<Registry['registerMetric']>[0]);
    }
    collectDefaultMetrics({ register: this.registry, prefix: 'badgesync_' });
  }
}
