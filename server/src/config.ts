/**
 * Configuration (SPEC CONF-1): every setting is an environment variable of the contract
 * and a CLI flag of the same name (`BADGESYNC_PUSH_DELAY_MS` ↔ `--push-delay-ms`). Flags win.
 */
import path from 'node:path';
import type { DocumentBudgets } from '@badgesync/shared';
import { isNodeId, MAX_NODE_ID_BYTES } from './cluster/node-id.js';
import { DEFAULT_REDIS_PREFIX, isRedisPrefix } from './cluster/redis-keys.js';
import { DEFAULT_AWARENESS_BUDGET } from './sync/awareness-relay.js';

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly db: string;
  /** Null: generated once, stored with the data, printed for local use. */
  readonly apiKey: string | null;
  readonly deviceSecret: string | null;
  readonly heartbeatMs: number;
  readonly offlineGraceMs: number;
  readonly pushDelayMs: number;
  readonly maxMessageBytes: number;
  readonly maxLoadedDocs: number;
  readonly maxNewClientsPerUpdate: number;
  readonly maxClientsPerDevice: number;
  readonly maxClientsPerAccount: number;
  readonly maxConcurrentPerKey: number;
  readonly maxThreads: number;
  readonly maxMutes: number;
  readonly maxReadsKeys: number;
  readonly awarenessStateBytes: number;
  readonly awarenessAccountBytes: number;
  readonly awarenessClientsPerConnection: number;
  readonly maxSockets: number;
  readonly maxPreauthSocketsPerAddress: number;
  readonly maxConnectionsPerDevice: number;
  readonly upgradeRate: number;
  readonly upgradeBurst: number;
  readonly messageRate: number;
  readonly messageBurst: number;
  readonly logLevel: string;
  readonly apnsKeyFile: string | null;
  readonly apnsKeyId: string | null;
  readonly apnsTeamId: string | null;
  readonly apnsTopic: string | null;
  /** Comma-separated bundle ids a registration may name besides apnsTopic (see allowedTopics). */
  readonly apnsTopics: string | null;
  readonly apnsHost: string | null;
  /** Path to the FCM service-account key (JSON); without it FCM pushes are logged. */
  readonly fcmServiceAccount: string | null;
  /** FCM's base URL in place of https://fcm.googleapis.com (tests, a proxy). */
  readonly fcmUrl: string | null;
  /** Comma-separated web origins that may call the device routes (see allowedOrigins). */
  readonly corsOrigins: string | null;
  /** Web Push VAPID key pair (both or neither; generated and stored when unset) and contact. */
  readonly vapidPublicKey: string | null;
  readonly vapidPrivateKey: string | null;
  readonly vapidSubject: string | null;
  /** Comma-separated push service hosts Web Push endpoints may name (null: the browsers' own). */
  readonly webpushHosts: string | null;
  /** postgres://… : the PostgreSQL store instead of SQLite (docs/CLUSTER.md). */
  readonly databaseUrl: string | null;
  /** redis://… : joins the cluster (requires databaseUrl). */
  readonly redisUrl: string | null;
  /** This node's name on the bus and in presence (null: hostname + pid + random). */
  readonly nodeId: string | null;
  /** Prefix of every Redis key and channel of this cluster. */
  readonly redisPrefix: string;
  /** After SIGTERM, how long /readyz answers 503 before the node stops serving. */
  readonly drainMs: number;
}

interface Setting {
  readonly key: keyof Config;
  readonly env: string;
  readonly kind: 'int' | 'string';
  readonly fallback: number | string | null;
  /** For `int` settings: the smallest and largest value accepted (inclusive); outside it the start fails. */
  readonly min?: number;
  readonly max?: number;
  readonly help: string;
}

/**
 * Every setting with its default and why. Timeouts and limits carry their reason here,
 * because here is where an operator looks.
 */
export const SETTINGS: readonly Setting[] = [
  {
    key: 'port',
    env: 'BADGESYNC_PORT',
    kind: 'int',
    fallback: 8080,
    min: 0,
    max: 65_535,
    help: 'HTTP and WebSocket port (0: any free port)',
  },
  { key: 'host', env: 'BADGESYNC_HOST', kind: 'string', fallback: '0.0.0.0', help: 'address to listen on' },
  {
    key: 'db',
    env: 'BADGESYNC_DB',
    kind: 'string',
    fallback: path.join('data', 'badgesync.db'),
    help: 'SQLite file (created with its folder)',
  },
  {
    key: 'apiKey',
    env: 'BADGESYNC_API_KEY',
    kind: 'string',
    fallback: null,
    help: 'backend API key; generated once and stored with the data when unset',
  },
  {
    key: 'deviceSecret',
    env: 'BADGESYNC_DEVICE_SECRET',
    kind: 'string',
    fallback: null,
    help: 'HS256 secret of device tokens; generated once and stored when unset',
  },
  {
    key: 'heartbeatMs',
    env: 'BADGESYNC_HEARTBEAT_MS',
    kind: 'int',
    // 10 s: a dead phone connection is noticed within 2.25 × 10 s ≈ 23 s, which bounds how
    // long a backgrounded phone waits for its first push; shorter costs mobile radios wake-ups.
    fallback: 10_000,
    // At least 50 ms: below it the sweep (every interval/4) becomes a busy loop that cuts live
    // connections; at most a day, the longest a dead link is worth keeping.
    min: 50,
    max: 86_400_000,
    help: 'ping interval; a connection silent for 2 intervals is closed (checked every interval/4)',
  },
  {
    key: 'offlineGraceMs',
    env: 'BADGESYNC_OFFLINE_GRACE_MS',
    kind: 'int',
    // 5 s: a phone moving from Wi-Fi to cellular reconnects within a few seconds; pushing it in
    // between would be a wasted push for a device that is about to sync anyway.
    fallback: 5_000,
    // 0: offline at the disconnect; a day is the longest a device may be presumed back.
    min: 0,
    max: 86_400_000,
    help: 'after a disconnect, how long a device still counts as online',
  },
  {
    key: 'pushDelayMs',
    env: 'BADGESYNC_PUSH_DELAY_MS',
    kind: 'int',
    // 1 s: coalesces a burst (a backend posting a thread's worth of items, mark-all-read on a
    // Mac) into one push, while a single change still reaches the phone within about a second.
    fallback: 1_000,
    // 0 pushes at once; an hour is the longest a badge may honestly wait.
    min: 0,
    max: 3_600_000,
    help: 'push coalescing window per device',
  },
  {
    key: 'maxMessageBytes',
    env: 'BADGESYNC_MAX_MESSAGE_BYTES',
    kind: 'int',
    // 1 MiB: a sync step 2 after weeks offline for 10,000 threads stays far below it
    // (~40 bytes per marker write); anything larger is a bug or an attack (close 4413).
    fallback: 1024 * 1024,
    // At least 1 KiB: a step 1 and a few markers must fit, and 0 would switch ws's check off;
    // at most 64 MiB: ws holds a whole message in memory before the server sees it.
    min: 1_024,
    max: 67_108_864,
    help: 'largest WebSocket message accepted (close 4413 above it)',
  },
  {
    key: 'maxLoadedDocs',
    env: 'BADGESYNC_MAX_LOADED_DOCS',
    kind: 'int',
    // 20,000: a loaded account of a few hundred threads costs well under 100 KB, so the cap
    // keeps documents under ~2 GB even for large accounts; idle ones are unloaded first.
    fallback: 20_000,
    min: 1,
    max: 10_000_000,
    help: 'most account documents held in memory (idle ones are unloaded first)',
  },
  {
    key: 'maxNewClientsPerUpdate',
    env: 'BADGESYNC_MAX_NEW_CLIENTS_PER_UPDATE',
    kind: 'int',
    // 64: an SDK session writes under one new Yjs client ID, so a step 2 after a week offline
    // carries one per app launch that wrote meanwhile; each costs a stored binding and a
    // state-vector entry for ever, and 20,000 in one update stalled the server 92.8 s (BUDGET-1).
    fallback: 64,
    min: 1,
    max: 100_000,
    help: 'new Yjs client IDs one update may use (close 4403 client_budget above it)',
  },
  {
    key: 'maxClientsPerDevice',
    env: 'BADGESYNC_MAX_CLIENTS_PER_DEVICE',
    kind: 'int',
    // 5,000: one per writing session is three sessions a day for four and a half years;
    // bindings are kept for ever (RULE-13), so this bounds what one device makes an account carry.
    fallback: 5_000,
    min: 1,
    max: 10_000_000,
    help: 'Yjs client IDs bound to one device in one account (close 4403 client_budget above it)',
  },
  {
    key: 'maxClientsPerAccount',
    env: 'BADGESYNC_MAX_CLIENTS_PER_ACCOUNT',
    kind: 'int',
    // 20,000: four devices at their own budget. Yjs does O(client IDs) work in every
    // transaction (a state vector per update) and each step 1 carries ~4 bytes per ID: at
    // 50,000 IDs one small update cost 40–400 ms and a load 2.6 s (bench/budgets.ts).
    fallback: 20_000,
    min: 1,
    max: 10_000_000,
    help: 'Yjs client IDs bound in one account (close 4403 client_budget above it)',
  },
  {
    key: 'maxConcurrentPerKey',
    env: 'BADGESYNC_MAX_CONCURRENT_PER_KEY',
    kind: 'int',
    // 16: concurrent writes of one key happen only when devices write it while apart (a
    // person's devices muting one thread offline at once, or a tablet that comes back after the
    // phone toggled that mute many times); a refusal stops that device's sync for good, so the
    // bound sits well above honest use. Yjs places N of them in ~N² steps and a load replays
    // them for every key: 1,000 keys at 64 loaded in ~0.5 s (bench/budgets.ts), at 8 in
    // ~0.05 s; the client-ID attack used thousands (BUDGET-6; in v2 the same N² scan happens
    // for inserts at one place of an array, and live duplicates of a key are sessions of one
    // device that wrote it while apart).
    fallback: 16,
    min: 2,
    max: 10_000,
    help: 'live entries of one key in one device array, and inserts at one place of an array (close 4403 concurrent_writes above it)',
  },
  {
    key: 'maxThreads',
    env: 'BADGESYNC_MAX_THREADS',
    kind: 'int',
    // 10,000: GET badge lists every thread with a head (~400 KB at the cap), and the counts of
    // a 10,000-thread account derive in ~20 ms on load (BUDGET-7).
    fallback: 10_000,
    min: 1,
    max: 10_000_000,
    help: 'threads with a head per account (POST items for a new thread answers 422 budget_exceeded)',
  },
  {
    key: 'maxMutes',
    env: 'BADGESYNC_MAX_MUTES',
    kind: 'int',
    // 10,000, the thread budget: muting more threads than can have items is never needed, and
    // 100,000 mutes of 128-character IDs made GET badge answer 12.5 MiB (BUDGET-7).
    fallback: 10_000,
    min: 1,
    max: 10_000_000,
    help: 'threads with a live mute entry per account (close 4403 key_budget above it)',
  },
  {
    key: 'maxReadsKeys',
    env: 'BADGESYNC_MAX_READS_KEYS',
    kind: 'int',
    // 20,000: two devices reading every thread of the thread budget, or ten reading 2,000.
    // Each key (up to 257 characters) is a struct the document keeps for ever, and a device can
    // name threads that have no head yet: 50,000 such keys made a 14 MB account that took
    // seconds to load (bench/budgets.ts).
    fallback: 20_000,
    min: 1,
    max: 100_000_000,
    help: 'live marker keys (thread × device) per account (close 4403 key_budget above it, SPEC BUDGET-7)',
  },
  {
    key: 'awarenessStateBytes',
    env: 'BADGESYNC_AWARENESS_STATE_BYTES',
    kind: 'int',
    // 8 KiB: a presence state (a name, a colour, the thread on screen) is a few hundred bytes;
    // a larger one is a bug or an attack, and every joiner of the account would be sent it.
    fallback: DEFAULT_AWARENESS_BUDGET.stateBytes,
    // At least 64 bytes, room for a small JSON object; at most 1 MiB, the default message cap.
    min: 64,
    max: 1_048_576,
    help: 'largest awareness state (UTF-8 bytes of its JSON) a device may announce (close 4413 above it)',
  },
  {
    key: 'awarenessAccountBytes',
    env: 'BADGESYNC_AWARENESS_ACCOUNT_BYTES',
    kind: 'int',
    // 64 KiB: eight full-size states or hundreds of ordinary ones. It bounds what the server
    // holds per loaded account and what every joiner and query-awareness answer costs; states
    // beyond it are not relayed (the device keeps syncing its document).
    fallback: DEFAULT_AWARENESS_BUDGET.accountBytes,
    // At least 1 KiB; at most 64 MiB, since each joiner is sent all of it.
    min: 1_024,
    max: 67_108_864,
    help: 'awareness bytes held per account; states beyond it are dropped, not relayed',
  },
  {
    key: 'awarenessClientsPerConnection',
    env: 'BADGESYNC_AWARENESS_CLIENTS_PER_CONNECTION',
    kind: 'int',
    // 4: a stock provider announces one client ID (its document's); a few more leave room for
    // a client that replaces its document. Each new ID is bound to the device for good.
    fallback: DEFAULT_AWARENESS_BUDGET.clientsPerConnection,
    min: 1,
    max: 256,
    help: 'awareness client IDs one connection may hold and newly claim (close 4413 beyond it)',
  },
  {
    key: 'maxSockets',
    env: 'BADGESYNC_MAX_SOCKETS',
    kind: 'int',
    // 50,000 open TCP sockets (sync, API, not yet authenticated): an idle sync connection costs
    // ~7 KB, so this is ~350 MB at most. The server lowers it to its open-file limit minus room
    // for the database and APNs, so idle sockets can never starve /healthz of file descriptors.
    fallback: 50_000,
    min: 16,
    max: 1_000_000,
    help: 'most open TCP sockets (lowered to the open-file limit minus 64); the last 16 serve /healthz only',
  },
  {
    key: 'maxPreauthSocketsPerAddress',
    env: 'BADGESYNC_MAX_PREAUTH_SOCKETS_PER_ADDRESS',
    kind: 'int',
    // 256 sockets from one address that are not an authenticated sync connection (API calls,
    // upgrades in flight, idle sockets): a backend's keep-alive pool or a NAT full of phones
    // reconnecting fits; one address cannot take every socket of the server.
    fallback: 256,
    min: 1,
    max: 1_000_000,
    help: 'most sockets one client address holds before authenticating (503 beyond it)',
  },
  {
    key: 'maxConnectionsPerDevice',
    env: 'BADGESYNC_MAX_CONNECTIONS_PER_DEVICE',
    kind: 'int',
    // 8 sync connections of one device to one account: a few browser tabs, plus sockets of a
    // phone that switched networks and that the heartbeat has not cut yet (up to ~23 s).
    fallback: 8,
    min: 1,
    max: 10_000,
    help: 'most live sync connections of one device to one account (503 beyond it)',
  },
  {
    key: 'upgradeRate',
    env: 'BADGESYNC_UPGRADE_RATE',
    kind: 'int',
    // 20 sync upgrade attempts per second per client address before authentication, with
    // the burst below: a NAT full of phones reconnects after an outage, and one address
    // cannot make the server verify tokens all day (429 with Retry-After past it).
    fallback: 20,
    // At least 1 (0 would refuse every device forever); at most a million, which is no limit.
    min: 1,
    max: 1_000_000,
    help: 'sync upgrade attempts per second per client address before authentication (429 past it)',
  },
  {
    key: 'upgradeBurst',
    env: 'BADGESYNC_UPGRADE_BURST',
    kind: 'int',
    // 100: every phone behind one NAT reconnecting at once after a server restart.
    fallback: 100,
    min: 1,
    max: 1_000_000,
    help: 'sync upgrade attempts one client address may make in a burst',
  },
  {
    key: 'messageRate',
    env: 'BADGESYNC_MESSAGE_RATE',
    kind: 'int',
    // 200 messages per second per connection: a person taps far slower and a reconnect sends
    // a handful; a runaway client cannot monopolise a core (closed with 1013 past it).
    fallback: 200,
    // At least 1: a stock provider sends a step 1, a step 2 and awareness when it connects;
    // at most a million, which is no limit.
    min: 1,
    max: 1_000_000,
    help: 'sustained WebSocket messages per second one connection may send (close 1013 past it)',
  },
  {
    key: 'messageBurst',
    env: 'BADGESYNC_MESSAGE_BURST',
    kind: 'int',
    // 1,000: a device's catch-up after a long time offline, and a mark-all-read of many threads.
    fallback: 1_000,
    // At least 4: the step 1, step 2, awareness and query a stock provider sends on connecting.
    min: 4,
    max: 1_000_000,
    help: 'WebSocket messages one connection may send in a burst',
  },
  { key: 'logLevel', env: 'BADGESYNC_LOG_LEVEL', kind: 'string', fallback: 'info', help: 'pino log level' },
  {
    key: 'apnsKeyFile',
    env: 'BADGESYNC_APNS_KEY_FILE',
    kind: 'string',
    fallback: null,
    help: 'APNs .p8 key; without it pushes are logged',
  },
  { key: 'apnsKeyId', env: 'BADGESYNC_APNS_KEY_ID', kind: 'string', fallback: null, help: 'APNs key id' },
  { key: 'apnsTeamId', env: 'BADGESYNC_APNS_TEAM_ID', kind: 'string', fallback: null, help: 'Apple team id' },
  {
    key: 'apnsTopic',
    env: 'BADGESYNC_APNS_TOPIC',
    kind: 'string',
    fallback: null,
    help: 'default bundle id; a registration may name only it or one of BADGESYNC_APNS_TOPICS',
  },
  {
    key: 'apnsTopics',
    env: 'BADGESYNC_APNS_TOPICS',
    kind: 'string',
    fallback: null,
    // One APNs key serves every app of a team: a watch app, an app extension or a separate
    // beta build has its own bundle id, and its registrations name it. Listing them here keeps
    // a registration from making the server push, with the team's key, to any other app.
    help: 'comma-separated extra bundle ids a registration may name (a watch app, a beta build)',
  },
  {
    key: 'apnsHost',
    env: 'BADGESYNC_APNS_HOST',
    kind: 'string',
    fallback: null,
    help: "host or host:port replacing Apple's for both environments",
  },
  {
    key: 'fcmServiceAccount',
    env: 'BADGESYNC_FCM_SERVICE_ACCOUNT',
    kind: 'string',
    fallback: null,
    // The key's project_id names the Firebase project pushed to, its token_uri the OAuth
    // endpoint its access tokens come from (SPEC PUSH-15).
    help: 'FCM service-account key (JSON file from the Firebase console); without it FCM pushes are logged',
  },
  {
    key: 'fcmUrl',
    env: 'BADGESYNC_FCM_URL',
    kind: 'string',
    fallback: null,
    help: 'base URL replacing https://fcm.googleapis.com (a proxy, or a stand-in FCM server); http allowed',
  },
  {
    key: 'corsOrigins',
    env: 'BADGESYNC_CORS_ORIGINS',
    kind: 'string',
    // None by default: a browser on any origin could otherwise make a signed-in user's page
    // call the device routes; an operator names the web app's own origins, exactly.
    fallback: null,
    help: 'comma-separated exact origins (https://app.example.com) whose pages may call the device routes',
  },
  {
    key: 'vapidPublicKey',
    env: 'BADGESYNC_VAPID_PUBLIC_KEY',
    kind: 'string',
    // Generated once and stored with the data when unset: browser subscriptions are bound to
    // this key, so it must survive restarts (a new one breaks every subscription).
    fallback: null,
    help: 'Web Push VAPID public key (base64url); set with the private key, or generated once and stored',
  },
  {
    key: 'vapidPrivateKey',
    env: 'BADGESYNC_VAPID_PRIVATE_KEY',
    kind: 'string',
    fallback: null,
    help: 'Web Push VAPID private key (base64url, 32 bytes)',
  },
  {
    key: 'vapidSubject',
    env: 'BADGESYNC_VAPID_SUBJECT',
    kind: 'string',
    // A placeholder until set: push services use it to reach the operator, and Apple's
    // refuses some placeholders, so the server warns while it is unset.
    fallback: null,
    help: 'Web Push contact (mailto:ops@example.com or an https: URL) in every VAPID JWT',
  },
  {
    key: 'webpushHosts',
    env: 'BADGESYNC_WEBPUSH_HOSTS',
    kind: 'string',
    // The browsers' push services by default: endpoints are chosen by devices, and this keeps
    // a registration from making the server post to an internal address.
    fallback: null,
    help: "comma-separated push service hosts (host, host:port, *.suffix) Web Push endpoints may name; default: the browsers' own",
  },
  {
    key: 'databaseUrl',
    env: 'BADGESYNC_DATABASE_URL',
    kind: 'string',
    // SQLite by default: one node needs no database server. PostgreSQL is what several nodes share.
    fallback: null,
    help: 'postgres://user@host/db: store in PostgreSQL instead of SQLite (migrated on start; docs/CLUSTER.md)',
  },
  {
    key: 'redisUrl',
    env: 'BADGESYNC_REDIS_URL',
    kind: 'string',
    fallback: null,
    help: 'redis://host:port: join the cluster of nodes sharing this Redis and BADGESYNC_DATABASE_URL',
  },
  {
    key: 'nodeId',
    env: 'BADGESYNC_NODE_ID',
    kind: 'string',
    // Unique per process by default: a restarted node is a new node, so presence it held
    // before a crash expires on its own instead of being taken over.
    fallback: null,
    help: 'this node in the cluster (default: hostname, pid and a random suffix)',
  },
  {
    key: 'redisPrefix',
    env: 'BADGESYNC_REDIS_PREFIX',
    kind: 'string',
    fallback: DEFAULT_REDIS_PREFIX,
    help: 'prefix of every Redis key and channel (several clusters can share one Redis)',
  },
  {
    key: 'drainMs',
    env: 'BADGESYNC_DRAIN_MS',
    kind: 'int',
    // 0: a single node stops at once. Behind a load balancer, set it to the balancer's
    // readiness interval times its failure threshold, so it stops routing here before the
    // sockets close (GET /readyz answers 503 during it).
    fallback: 0,
    // At most 5 minutes: longer than any orchestrator's grace period before it kills.
    min: 0,
    max: 300_000,
    help: 'after SIGTERM, how long /readyz answers 503 while the node still serves, before it closes',
  },
];

/** The document budgets of a configuration (SPEC BUDGET-1, BUDGET-6, BUDGET-7). */
export function documentBudgets(config: Config): DocumentBudgets {
  return {
    newClientsPerUpdate: config.maxNewClientsPerUpdate,
    clientsPerDevice: config.maxClientsPerDevice,
    clientsPerAccount: config.maxClientsPerAccount,
    concurrentPerKey: config.maxConcurrentPerKey,
    mutesPerAccount: config.maxMutes,
    readsPerAccount: config.maxReadsKeys,
  };
}

export function flagName(env: string): string {
  return `--${env
    .replace(/^BADGESYNC_/, '')
    .toLowerCase()
    .replaceAll('_', '-')}`;
}

export class ConfigError extends Error {}

/** Reads settings from flags (`--name value` or `--name=value`) over the environment. */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv): Config {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--' || !arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) flags.set(arg.slice(0, eq), arg.slice(eq + 1));
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ConfigError(`${arg} needs a value`);
      flags.set(arg, next);
      i++;
    }
  }
  const known = new Set(SETTINGS.map((s) => flagName(s.env)));
  for (const flag of flags.keys()) if (!known.has(flag)) throw new ConfigError(`unknown option ${flag}`);
  const out: Record<string, number | string | null> = {};
  for (const setting of SETTINGS) {
    const raw = flags.get(flagName(setting.env)) ?? env[setting.env];
    if (raw === undefined || raw === '') {
      out[setting.key] = setting.fallback;
    } else if (setting.kind === 'int') {
      out[setting.key] = parseIntSetting(setting, raw);
    } else {
      out[setting.key] = raw;
    }
  }
  const config = out as unknown as Config;
  allowedTopics(config);
  allowedOrigins(config);
  clusterSettings(config);
  return config;
}

/** An integer within the setting's range (SPEC CONF-3), or a ConfigError naming setting, value and range. */
function parseIntSetting(setting: Setting, raw: string): number {
  const min = setting.min ?? 0;
  const max = setting.max ?? Number.MAX_SAFE_INTEGER;
  const n = /^-?[0-9]+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`${setting.env} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/**
 * The cluster settings hang together (docs/CLUSTER.md): a database URL is postgres://, a Redis
 * URL redis:// (or rediss://) and only with a database (nodes share their documents through
 * it), a node ID and a prefix are printable and short. A ConfigError names what is wrong.
 */
export function clusterSettings(config: Pick<Config, 'databaseUrl' | 'redisUrl' | 'nodeId' | 'redisPrefix'>): void {
  if (config.databaseUrl !== null && !/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
    throw new ConfigError('BADGESYNC_DATABASE_URL must be a postgres:// URL');
  }
  if (config.redisUrl !== null) {
    if (!/^rediss?:\/\//.test(config.redisUrl)) throw new ConfigError('BADGESYNC_REDIS_URL must be a redis:// URL');
    if (config.databaseUrl === null) {
      throw new ConfigError(
        'BADGESYNC_REDIS_URL needs BADGESYNC_DATABASE_URL: the nodes of a cluster share one PostgreSQL database',
      );
    }
  }
  if (config.nodeId !== null && !isNodeId(config.nodeId)) {
    throw new ConfigError(
      `BADGESYNC_NODE_ID must be 1 to ${MAX_NODE_ID_BYTES} printable ASCII characters without spaces`,
    );
  }
  if (!isRedisPrefix(config.redisPrefix)) {
    throw new ConfigError('BADGESYNC_REDIS_PREFIX must be 1 to 64 printable ASCII characters without spaces');
  }
}

/** What a bundle id looks like (the API checks registrations against the same pattern). */
const TOPIC_PATTERN = /^[A-Za-z0-9.-]{1,200}$/;

/**
 * [API-9] The APNs topics a registration may name: BADGESYNC_APNS_TOPIC and every entry of
 * BADGESYNC_APNS_TOPICS. Null when neither is set (local use, nothing configured to push to):
 * then any topic is accepted. Throws a ConfigError naming a malformed entry.
 */
export function allowedTopics(config: Pick<Config, 'apnsTopic' | 'apnsTopics'>): ReadonlySet<string> | null {
  const topics = new Set<string>();
  if (config.apnsTopic !== null) topics.add(config.apnsTopic);
  for (const raw of config.apnsTopics?.split(',') ?? []) {
    const topic = raw.trim();
    if (topic !== '') topics.add(topic);
  }
  for (const topic of topics) {
    if (!TOPIC_PATTERN.test(topic)) {
      throw new ConfigError(`BADGESYNC_APNS_TOPIC(S) must be bundle ids, got ${JSON.stringify(topic)}`);
    }
  }
  return topics.size === 0 ? null : topics;
}

/** An exact web origin: scheme, host and an optional port; no path, no wildcard. */
const ORIGIN_PATTERN = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$/;

/**
 * [API-10] The web origins whose pages may call the device routes: every entry of
 * BADGESYNC_CORS_ORIGINS, compared exactly (lowercased, as browsers send them). Empty when
 * unset. Throws a ConfigError naming an entry that is not an origin.
 */
export function allowedOrigins(config: Pick<Config, 'corsOrigins'>): ReadonlySet<string> {
  const origins = new Set<string>();
  for (const raw of config.corsOrigins?.split(',') ?? []) {
    const origin = raw.trim();
    if (origin === '') continue;
    if (!ORIGIN_PATTERN.test(origin)) {
      throw new ConfigError(
        `BADGESYNC_CORS_ORIGINS entries must be origins like https://app.example.com, got ${JSON.stringify(origin)}`,
      );
    }
    origins.add(origin.toLowerCase());
  }
  return origins;
}

export function configHelp(): string {
  const rows = SETTINGS.map(
    (s) =>
      `  ${flagName(s.env).padEnd(22)} ${s.env.padEnd(30)} ${s.help} (default: ${s.fallback ?? 'none'}${
        s.kind === 'int' ? `; ${s.min ?? 0}–${s.max ?? Number.MAX_SAFE_INTEGER}` : ''
      })`,
  );
  return rows.join('\n');
}
