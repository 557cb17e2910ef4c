/**
 * `badgesync serve | token | --help` (SPEC OPS-4). `serve` runs a node on the embedded
 * default: SQLite under ./data/, pushes logged without an APNs key.
 */
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { mintDeviceToken } from './auth/device-token.js';
import { ConfigError, configHelp, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { openStore } from './open-store.js';
import { pushPipeline } from './push/push-pipeline.js';
import { resolveVapidKeys } from './push/webpush-keys.js';
import { resolveSecrets } from './secrets.js';
import { BadgesyncServer } from './server.js';
import { asyncStore } from './store/async-store.js';
import { PgStore } from './store/pg/pg-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { readTestHooks } from './test-hooks.js';

const USAGE = `badgesync — one badge, right on every device

usage:
  badgesync serve [options]                      run the server
  badgesync token --account A --device D [--ttl-seconds N] [options]
                                                 mint a device token (uses the configured or stored secret)
  badgesync --help

options (each also an environment variable):
${configHelp()}
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'serve') return serve(rest);
  if (command === 'token') return token(rest);
  process.stderr.write(`unknown command ${command}\n\n${USAGE}`);
  return 2;
}

async function serve(args: string[]): Promise<number> {
  const config = loadConfig(args, process.env);
  const testHooks = readTestHooks(process.env);
  const log = createLogger(config.logLevel);
  // [EDGE-1] The last resort. Every entry of the server catches its own throws; one that gets
  // here anyway is a bug in that boundary. It is logged as fatal, and the node keeps serving
  // its other accounts rather than dropping every device of every account.
  process.on('uncaughtException', (err) => log.fatal({ err }, 'uncaught exception (a bug); still serving'));
  process.on('unhandledRejection', (err) => log.fatal({ err }, 'unhandled rejection (a bug); still serving'));
  const { store, readiness, cluster, where } = await openStore(config, log);
  const vapid = await resolveVapidKeys(store, config);
  if (vapid.generated) log.info({ publicKey: vapid.publicKey }, 'Web Push VAPID key pair generated and stored');
  if (config.vapidSubject === null) {
    log.warn('no BADGESYNC_VAPID_SUBJECT: Web Push JWTs name a placeholder contact, which some push services refuse');
  }
  const push = await pushPipeline(config, log, vapid);
  const server = await BadgesyncServer.create({
    config,
    store,
    log,
    push,
    testHooks,
    vapid,
    readiness,
    ...(cluster === undefined ? {} : { cluster }),
  });
  const port = await server.listen();
  // Printed before "listening", so whatever waits for that line has the secrets already.
  if (server.secrets.generated) await printFirstRun(port, server.secrets.apiKey, server.secrets.deviceSecret);
  log.info({ port, ...where }, 'badgesync listening');
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return -1;
}

async function printFirstRun(port: number, apiKey: string, deviceSecret: string): Promise<void> {
  const example = await mintDeviceToken(deviceSecret, parseAccountId('alice'), parseDeviceId('alice-phone'), 3600);
  process.stderr.write(`
Generated secrets (stored with the data; shown once):
  BADGESYNC_API_KEY=${apiKey}
  BADGESYNC_DEVICE_SECRET=${deviceSecret}

Try it:
  curl -s -X POST localhost:${port}/v1/accounts/alice/items \\
    -H 'authorization: Bearer ${apiKey}' -H 'content-type: application/json' \\
    -d '{"thread":"inbox","count":3}'
  curl -s localhost:${port}/v1/accounts/alice/badge -H 'authorization: Bearer ${apiKey}'

A device token for account alice, device alice-phone (1 hour):
  ${example}
  sync: ws://localhost:${port}/v1/sync/alice?token=<that token>
`);
}

async function token(args: string[]): Promise<number> {
  const pickFlag = (name: string): string | undefined => {
    const at = args.indexOf(name);
    if (at < 0) return undefined;
    const value = args[at + 1];
    args.splice(at, 2);
    return value;
  };
  const account = parseAccountId(pickFlag('--account'));
  const device = parseDeviceId(pickFlag('--device'));
  const ttl = Number(pickFlag('--ttl-seconds') ?? 3600);
  if (!Number.isSafeInteger(ttl) || ttl <= 0) throw new ConfigError('--ttl-seconds must be a positive integer');
  const config = loadConfig(args, process.env);
  let secret = config.deviceSecret;
  if (secret === null) {
    // The stored secret: in PostgreSQL when the node runs on it (BADGESYNC_DATABASE_URL).
    const store =
      config.databaseUrl === null
        ? asyncStore(new SqliteStore(config.db))
        : await PgStore.open({ url: config.databaseUrl });
    try {
      secret = (await resolveSecrets(store, config.apiKey, null)).deviceSecret;
    } finally {
      await store.close();
    }
  }
  process.stdout.write(`${await mintDeviceToken(secret, account, device, ttl)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`badgesync: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof ConfigError || err instanceof TypeError ? 2 : 1;
  },
);
