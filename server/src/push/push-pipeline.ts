import type { Logger } from 'pino';
import { allowedTopics, type Config } from '../config.js';
import { createPlatformSenders } from './create-platform-senders.js';
import type { PushFactory, PushHooks } from './ports.js';
import { PushMetrics } from './push-metrics.js';
import { PushScheduler } from './push-scheduler.js';
import type { PushLog } from './push-sender.js';
import type { VapidKeys } from './webpush-keys.js';

/**
 * The push pipeline of a configuration: every platform's sender (or a logging one without
 * credentials) behind the scheduler. Async because key files are read before the server starts.
 */
/** `vapid`: the Web Push key pair (resolveVapidKeys); null leaves Web Push pushes logged, not sent. */
export async function pushPipeline(config: Config, log: Logger, vapid: VapidKeys | null = null): Promise<PushFactory> {
  const pushLog: PushLog = (level, fields, message) => log[level]({ ...fields, part: 'push' }, message);
  const sender = await createPlatformSenders(config, pushLog, vapid);
  return (ctx): PushHooks =>
    new PushScheduler(
      {
        offlineGraceMs: config.offlineGraceMs,
        pushDelayMs: config.pushDelayMs,
        defaultTopic: config.apnsTopic,
        allowedTopics: allowedTopics(config),
      },
      {
        // The server's store: every read answers through a promise (a store on the network fits).
        store: ctx.store,
        ...(ctx.takeDue === undefined ? {} : { takeDue: ctx.takeDue }),
        ...(ctx.peekDue === undefined ? {} : { peekDue: ctx.peekDue }),
        ...(ctx.releaseDue === undefined ? {} : { releaseDue: ctx.releaseDue }),
        sender,
        log: ctx.log,
        metrics: new PushMetrics(ctx.metrics.registry),
        isOnline: ctx.isOnline,
        writes: ctx.writes,
      },
    );
}
