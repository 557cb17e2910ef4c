/**
 * Configuration (SPEC CONF-1): every setting is an environment variable of the contract
 * and a CLI flag of the same name (`BADGESYNC_PUSH_DELAY_MS` ↔ `--push-delay-ms`). Flags win.
 */
import path from 'node:path';

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
  readonly logLevel: string;
  readonly apnsKeyFile: string | null;
  readonly apnsKeyId: string | null;
  readonly apnsTeamId: string | null;
  readonly apnsTopic: string | null;
  /** Comma-separated bundle ids a registration may name besides apnsTopic (see allowedTopics). */
  readonly apnsTopics: string | null;
  readonly apnsHost: string | null;
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
];

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

export function configHelp(): string {
  const rows = SETTINGS.map(
    (s) =>
      `  ${flagName(s.env).padEnd(22)} ${s.env.padEnd(30)} ${s.help} (default: ${s.fallback ?? 'none'}${
        s.kind === 'int' ? `; ${s.min ?? 0}–${s.max ?? Number.MAX_SAFE_INTEGER}` : ''
      })`,
  );
  return rows.join('\n');
}
