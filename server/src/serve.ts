/**
 * `badgesync serve` (SPEC OPS-4): the node, built and listening. Loaded by main.ts once the
 * commit thread is booting (OPS-9).
 */
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { mintDeviceToken } from './auth/device-token.js';
import type { Config } from './config.js';
import { createLogger } from './log.js';
import { openStore } from './open-store.js';
import { pushPipeline } from './push/push-pipeline.js';
import { resolveVapidKeys } from './push/webpush-keys.js';
import { BadgesyncServer } from './server.js';
import { readTestHooks } from './test-hooks.js';

/** Runs the node of `badgesync serve` (SPEC OPS-4) until SIGTERM or SIGINT (OPS-3); -1: the process keeps running. */
export async function runServer(config: Config): Promise<number> {
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
