/**
 * `badgesync serve | token | --help` (SPEC OPS-4). `serve` runs a node on the embedded
 * default: SQLite under ./data/, pushes logged without an APNs key.
 *
 * [OPS-9] This module loads only the settings and the commit thread: `serve` starts the commit
 * thread first, then loads the server (serve.ts), so the thread boots while the server's modules
 * load instead of after them.
 */
import { ConfigError, configHelp, loadConfig } from './config.js';
import { startCommitThreadEarly } from './early-start.js';

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
  startCommitThreadEarly(config);
  const { runServer } = await import('./serve.js');
  return runServer(config);
}

async function token(args: string[]): Promise<number> {
  const pickFlag = (name: string): string | undefined => {
    const at = args.indexOf(name);
    if (at < 0) return undefined;
    const value = args[at + 1];
    args.splice(at, 2);
    return value;
  };
  const [
    { parseAccountId, parseDeviceId },
    { mintDeviceToken },
    { resolveSecrets },
    { asyncStore },
    { PgStore },
    { SqliteStore },
  ] = await Promise.all([
    import('@badgesync/shared'),
    import('./auth/device-token.js'),
    import('./secrets.js'),
    import('./store/async-store.js'),
    import('./store/pg/pg-store.js'),
    import('./store/sqlite-store.js'),
  ]);
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
