/** The store subsystem: the contract (store.ts, one interface per concern) and its implementations (memory, SQLite, PostgreSQL). */
export { asyncStore } from './async-store.js';
export type {
  ClusterStore,
  CommitReport,
  CommittedSeq,
  ExclusiveRequest,
  ExclusiveResult,
  ExclusiveTail,
  ExclusiveWrite,
  LogSince,
  ServerClientLease,
} from './cluster-store.js';
export { DEVICE_DEFAULTS, isPushable, normalizeApnsToken } from './device-record.js';
export { MemoryStore } from './memory-store.js';
export { MIGRATIONS, type Migration, migrate, SCHEMA_VERSION, SchemaTooNewError, schemaVersion } from './migrations.js';
export {
  MIGRATION_LOCK_KEY,
  migratePg,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  pgSchemaVersion,
} from './pg/pg-migrations.js';
export { PgStore, type PgStoreOptions } from './pg/pg-store.js';
export { ServerClientLeaseLost } from './server-client-lease-lost.js';
export { BUSY_TIMEOUT_MS, type SqliteSettings, SqliteStore } from './sqlite-store.js';
export type {
  Asynchronous,
  CountsStore,
  DevicePatch,
  DeviceRegistry,
  DocReplacement,
  DocumentLog,
  IdempotencyStore,
  MetaStore,
  OutboxEntry,
  PushOutbox,
  Registration,
  Store,
  StoredDoc,
  SyncStore,
  TokenRefusal,
  WriteBatch,
} from './store.js';
