/**
 * The test Web Push service of the push benchmark in a process of its own (started by push.ts
 * with an IPC channel), as a browser vendor's push service is on another machine. Prints
 * `{"address":…,"caPath":…}` on stdout when listening. Requests: `subscribe` (`count` new
 * subscriptions for the server's VAPID public key, each with its id). Each request it answers
 * goes to the parent as a `push` message: subscription id, badge, status, and `receivedAt`,
 * Date.now() when it arrived (bench/lib/push-stand-in.ts says why that clock). SIGTERM closes
 * the service and deletes its CA files.
 */
import { closeOnStop } from '../../test/helpers/test-server-kit.js';
import { type TestSubscription, WebPushTestServer } from '../../test/helpers/webpush-test-server.js';
import { serveRequests } from '../lib/ipc.js';

/** One answered request, as the parent reads it. */
export interface WebPushArrival {
  readonly type: 'push';
  readonly subscriptionId: string;
  /** The decrypted payload's badge; null when it had none. */
  readonly badge: number | null;
  readonly status: number | null;
  readonly receivedAt: number;
}

export interface WebPushSubscribed {
  readonly subscription: TestSubscription;
  readonly id: string;
}

const service = await WebPushTestServer.start();
closeOnStop(service, false);

service.onAnswer((request) => {
  const badge = (request.payload as { badge?: unknown } | undefined)?.badge;
  process.send?.({
    type: 'push',
    subscriptionId: request.subscriptionId,
    badge: typeof badge === 'number' ? badge : null,
    status: request.answer?.status ?? null,
    receivedAt: request.receivedAt,
  } satisfies WebPushArrival);
});

serveRequests({
  subscribe: ({ publicKey, count }: { publicKey: string; count: number }): WebPushSubscribed[] =>
    Array.from({ length: count }, () => {
      const subscription = service.subscribe(publicKey);
      return { subscription, id: service.idOf(subscription) };
    }),
});

process.stdout.write(`${JSON.stringify({ address: service.address, caPath: service.caPath })}\n`);
