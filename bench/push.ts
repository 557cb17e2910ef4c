/**
 * Badge pushes end to end: items posted through the backend API at stepped rates,
 * spread over many accounts whose one device each is offline and registered with an APNs
 * token, through the real server process (default coalescing window) and the real apns2
 * client, to the test APNs server in this process (HTTP/2, TLS, ES256 provider token checked).
 *
 *   node --import tsx bench/push.ts [--quick] [--rates 100,300,1000] [--step-s N] [--accounts N] [--platform apns|fcm|webpush]
 *
 * `--platform fcm`: the devices are Android apps with FCM tokens, pushed through the FCM HTTP v1
 * sender to the test FCM server (HTTP; it checks the OAuth bearer token of every push).
 *
 * `--platform webpush`: the devices are browser subscriptions instead, pushed through the
 * web-push sender (VAPID, aes128gcm) to the test Web Push server, which decrypts every push.
 *
 * Per step: posts/s achieved, pushes/s sustained, latency from sending the POST to the test
 * APNs server receiving the push that carries its item (p50/p99; the coalescing window is
 * the floor), the POST's own round trip, and CPU: this process (load generator and test APNs
 * server together) against the server's `badgesync_process_cpu_seconds_total`.
 * Quick (~30 s): 5 s steps over 3,000 accounts. Full: 20 s steps, 6,000 accounts, up to 2,000/s.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SETTINGS } from '@badgesync/server';
import { SqliteStore } from '../server/src/store/index.js';
import { ApnsTestServer } from '../test/helpers/apns-test-server.js';
import { FcmTestServer } from '../test/helpers/fcm-test-server.js';
import { type TestSubscription, WebPushTestServer } from '../test/helpers/webpush-test-server.js';
import { listOption, numberOption, option } from './lib/args.js';
import { delta, scrape, total } from './lib/prometheus.js';
import { beginResult, emitResult, fmt, type Table } from './lib/report.js';
import { api, inParallel, type RunningServer, startServer } from './lib/servers.js';
import { percentile, sortedCopy } from './lib/stats.js';
import { printTable } from './lib/table.js';

const platform = option('platform') ?? 'apns';
if (platform !== 'apns' && platform !== 'fcm' && platform !== 'webpush') {
  throw new Error(`--platform is apns, fcm or webpush, got ${platform}`);
}
const result =
  platform === 'apns'
    ? beginResult('push', 'Badge pushes: backend POST → server → apns2 → test APNs server')
    : platform === 'fcm'
      ? beginResult('push-fcm', 'Badge pushes: backend POST → server → FCM HTTP v1 → test FCM server')
      : beginResult('push-webpush', 'Badge pushes: backend POST → server → web-push → test Web Push server');
const quick = result.mode === 'quick';

const rates = listOption('rates', quick ? ['100', '300', '1000'] : ['100', '300', '600', '1000']).map(Number);
const stepMs = numberOption('step-s', quick ? 5 : 20) * 1000;
/**
 * Three accounts per post/s of the fastest step: each account gets a post every 3 s or less
 * often, three coalescing windows apart, so every post should make its own push.
 */
const accounts = numberOption('accounts', (quick ? 2 : 3) * Math.max(...rates));
/** The server runs with the default window; read from its settings so the table states it truly. */
const pushDelayMs = Number(SETTINGS.find((s) => s.env === 'BADGESYNC_PUSH_DELAY_MS')?.fallback);
/** After a step, how long its last pushes may take to arrive before they count as lost. */
const DRAIN_TIMEOUT_MS = 30_000;
/** Posts in flight at most: beyond it the generator falls behind its rate (and says so). */
const MAX_POSTS_IN_FLIGHT = 512;
/** The generator wakes this often and sends every post due since. */
const TICK_MS = 5;

const token = (i: number) => createHash('sha256').update(`bench-device-${i}`).digest('hex');
const account = (i: number) => `bench-${i}`;

/** A post waiting for its push: when it was sent and the badge it made. */
interface Waiting {
  readonly sentAt: number;
  readonly badge: number;
  readonly step: number;
}

const waiting = new Map<string, Waiting[]>();
/** Per token: the badges APNs accepted and when, for a POST whose answer comes after its push. */
const pushed = new Map<string, Array<{ readonly badge: number; readonly at: number }>>();
/** Per step: latencies (ms) from POST sent to push received, and APNs arrival times. */
const latencies: number[][] = rates.map(() => []);
const arrivals: number[][] = rates.map(() => []);
let otherAnswers = 0;

function onPush(tokenHex: string, badge: number, receivedAt: number): void {
  const log = pushed.get(tokenHex) ?? [];
  log.push({ badge, at: receivedAt });
  pushed.set(tokenHex, log);
  const queue = waiting.get(tokenHex);
  if (queue === undefined) return;
  while (queue.length > 0 && (queue[0] as Waiting).badge <= badge) {
    const post = queue.shift() as Waiting;
    latencies[post.step]?.push(receivedAt - post.sentAt);
  }
  if (queue.length === 0) waiting.delete(tokenHex);
}

/** A POST answered: its push may already be in (an answer slower than the window), else it waits. */
function onPosted(tokenHex: string, post: Waiting): void {
  const early = pushed.get(tokenHex)?.find((push) => push.badge >= post.badge && push.at >= post.sentAt);
  if (early !== undefined) {
    latencies[post.step]?.push(early.at - post.sentAt);
    return;
  }
  const queue = waiting.get(tokenHex) ?? [];
  queue.push(post);
  waiting.set(tokenHex, queue);
}

interface StepFigures {
  readonly rate: number;
  readonly posts: number;
  readonly postsPerS: number;
  readonly behind: number;
  readonly pushesPerS: number;
  readonly pushes: number;
  readonly undelivered: number;
  readonly latencyP50: number;
  readonly latencyP99: number;
  readonly latencyMax: number;
  readonly postP50: number;
  readonly postP99: number;
  readonly clientCpu: number;
  readonly serverCpu: number;
  /** p99 of the server's event-loop delay over the step (prom-client resets it on each scrape). */
  readonly serverLagP99: number;
  readonly sentMetric: number;
}

async function runStep(server: RunningServer, step: number, rate: number, nextAccount: { i: number }) {
  const before = await scrape(server.http);
  const cpuBefore = process.cpuUsage();
  const posts: number[] = [];
  let issued = 0;
  let inFlight = 0;
  let behind = 0;
  let failed = 0;
  const started = Date.now();
  const count = Math.round((rate * stepMs) / 1000);
  const sends: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(count, Math.floor(((Date.now() - started) * rate) / 1000));
      while (issued < due) {
        if (inFlight >= MAX_POSTS_IN_FLIGHT) {
          behind = Math.max(behind, due - issued);
          break;
        }
        issued++;
        inFlight++;
        const i = nextAccount.i++ % accounts;
        const sentAt = Date.now();
        const t0 = performance.now();
        sends.push(
          api<{ badge: number }>(server, 'POST', `/v1/accounts/${account(i)}/items`, { thread: 'inbox' }).then(
            (answer) => {
              posts.push(performance.now() - t0);
              onPosted(token(i), { sentAt, badge: answer.badge, step });
            },
            () => {
              failed++;
            },
          ),
        );
        void sends.at(-1)?.finally(() => inFlight--);
      }
      if (issued >= count) {
        clearInterval(tick);
        resolve();
      }
    }, TICK_MS);
  });
  await Promise.all(sends);
  const ended = Date.now();
  const cpu = process.cpuUsage(cpuBefore);
  const wallS = (ended - started) / 1000;
  // Pushes for this step's posts arrive one window later: count those in the shifted span.
  const drainUntil = Date.now() + DRAIN_TIMEOUT_MS;
  while ([...waiting.values()].some((q) => q.some((w) => w.step === step)) && Date.now() < drainUntil) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const after = await scrape(server.http);
  const undelivered = [...waiting.values()].reduce((n, q) => n + q.filter((w) => w.step === step).length, 0);
  const shifted = (arrivals[step] ?? []).filter((at) => at >= started + pushDelayMs && at < ended + pushDelayMs);
  const lat = sortedCopy(latencies[step] ?? []);
  const post = sortedCopy(posts);
  if (failed > 0) throw new Error(`${failed} posts failed at ${rate}/s`);
  const figures: StepFigures = {
    rate,
    posts: issued,
    postsPerS: issued / wallS,
    behind,
    pushesPerS: shifted.length / wallS,
    pushes: arrivals[step]?.length ?? 0,
    undelivered,
    latencyP50: percentile(lat, 50),
    latencyP99: percentile(lat, 99),
    latencyMax: percentile(lat, 100),
    postP50: percentile(post, 50),
    postP99: percentile(post, 99),
    clientCpu: (cpu.user + cpu.system) / 1e6 / wallS,
    serverCpu: delta(before, after, 'badgesync_process_cpu_seconds_total') / ((Date.now() - started) / 1000),
    serverLagP99: total(after, 'badgesync_nodejs_eventloop_lag_p99_seconds') * 1000,
    sentMetric: delta(before, after, 'badgesync_pushes_sent_total'),
  };
  return figures;
}

function row(f: StepFigures): Record<string, string | null> {
  return {
    'posts/s target': fmt.int(f.rate),
    'posts/s': fmt.int(f.postsPerS),
    'pushes/s': fmt.int(f.pushesPerS),
    'pushes / posts': fmt.fixed(f.pushes / f.posts, 2),
    'push p50 ms': fmt.int(f.latencyP50),
    'push p99 ms': fmt.int(f.latencyP99),
    'push max ms': fmt.int(f.latencyMax),
    'POST p50 ms': fmt.ms(f.postP50),
    'POST p99 ms': fmt.ms(f.postP99),
    undelivered: fmt.int(f.undelivered),
    'client CPU': `${Math.round(f.clientCpu * 100)} %`,
    'server CPU': `${Math.round(f.serverCpu * 100)} %`,
    'server loop lag p99 ms': fmt.int(f.serverLagP99),
  };
}

const COLUMNS = [
  'posts/s target',
  'posts/s',
  'pushes/s',
  'pushes / posts',
  'push p50 ms',
  'push p99 ms',
  'push max ms',
  'POST p50 ms',
  'POST p99 ms',
  'undelivered',
  'client CPU',
  'server CPU',
  'server loop lag p99 ms',
] as const;

/**
 * What the scheduler's own store writes would cost on this disk as transactions of their
 * own (synchronous=FULL: one fsync each) — the baseline for the server, which puts them in
 * the turn's group commit instead.
 */
function storeWriteCosts(samples = 500): { enqueuePush: number; setDelivered: number; removePush: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'badgesync-bench-push-'));
  const store = new SqliteStore(path.join(dir, 'writes.db'));
  const token = 'be'.repeat(32);
  const time = (write: (i: number) => void) => {
    const began = performance.now();
    for (let i = 0; i < samples; i++) write(i);
    return ((performance.now() - began) * 1000) / samples;
  };
  try {
    const enqueue = (i: number) =>
      store.enqueuePush({ token, badge: i, changedAt: 1, dueAt: 2, attempts: 0, parked: false });
    return {
      enqueuePush: time(enqueue),
      setDelivered: time((i) => store.setDelivered(token, i, 1)),
      removePush:
        time((i) => {
          enqueue(i);
          store.removePush(token, i);
        }) - time(enqueue),
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where the pushes go: the test service, the server's settings for it, and each device's registration. */
interface PushTarget {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** The body of device i's registration (after the server is up: Web Push needs its key). */
  registration(i: number, server: RunningServer): Promise<unknown>;
  /** Pushes the service accepted so far (answered 200/201). */
  accepted(): number;
  waitFor(condition: () => boolean, ms: number, what: () => string): Promise<void>;
  close(): Promise<void>;
}

function onAccepted(key: string, badge: number, receivedAt: number, step: number): void {
  if (step >= 0) arrivals[step]?.push(receivedAt);
  onPush(key, badge, receivedAt);
}

async function apnsTarget(current: () => number): Promise<PushTarget> {
  const apns = await ApnsTestServer.start();
  let accepted = 0;
  apns.onAnswer((request) => {
    if (request.answer === null || !('status' in request.answer) || request.answer.status !== 200) {
      otherAnswers++;
      return;
    }
    accepted++;
    onAccepted(
      request.deviceToken,
      (request.payload as { aps: { badge: number } }).aps.badge,
      request.receivedAt,
      current(),
    );
  });
  return {
    name: 'APNs',
    env: {
      NODE_EXTRA_CA_CERTS: apns.caPath,
      BADGESYNC_APNS_HOST: apns.address,
      BADGESYNC_APNS_KEY_FILE: apns.keyPath,
      BADGESYNC_APNS_KEY_ID: apns.keyId,
      BADGESYNC_APNS_TEAM_ID: apns.teamId,
      BADGESYNC_APNS_TOPIC: 'com.example.badgesync',
    },
    registration: async (i) => ({ apnsToken: token(i) }),
    accepted: () => accepted,
    waitFor: (condition, ms, what) => apns.waitFor(condition, ms, what),
    close: () => apns.close(),
  };
}

async function webPushTarget(current: () => number): Promise<PushTarget> {
  const service = await WebPushTestServer.start();
  /** Subscription id → the device's key in `waiting`/`pushed` (its token(i)). */
  const keys = new Map<string, string>();
  let publicKey: string | null = null;
  let accepted = 0;
  service.onAnswer((request) => {
    const badge = (request.payload as { badge?: unknown } | undefined)?.badge;
    if (request.answer?.status !== 201 || typeof badge !== 'number') {
      otherAnswers++;
      return;
    }
    accepted++;
    onAccepted(keys.get(request.subscriptionId) ?? '', badge, request.receivedAt, current());
  });
  return {
    name: 'Web Push',
    env: {
      NODE_EXTRA_CA_CERTS: service.caPath,
      BADGESYNC_WEBPUSH_HOSTS: service.address,
      BADGESYNC_VAPID_SUBJECT: 'mailto:bench@example.com',
    },
    registration: async (i, server) => {
      publicKey ??= (await api<{ publicKey: string }>(server, 'GET', '/v1/push/webpush-key')).publicKey;
      const subscription: TestSubscription = service.subscribe(publicKey);
      keys.set(service.idOf(subscription), token(i));
      return { platform: 'webpush', subscription };
    },
    accepted: () => accepted,
    waitFor: (condition, ms, what) => service.waitFor(condition, ms, what),
    close: () => service.close(),
  };
}

async function fcmTarget(current: () => number): Promise<PushTarget> {
  const fcm = await FcmTestServer.start();
  /** FCM token → the device's key in `waiting`/`pushed` (its token(i)). */
  const keys = new Map<string, string>();
  let accepted = 0;
  fcm.onAnswer((request) => {
    if (request.status !== 200) {
      otherAnswers++;
      return;
    }
    accepted++;
    const badge = Number((request.body as { message: { data: { badge: string } } }).message.data.badge);
    onAccepted(keys.get(request.token) ?? '', badge, request.at, current());
  });
  return {
    name: 'FCM',
    env: { BADGESYNC_FCM_SERVICE_ACCOUNT: fcm.keyPath, BADGESYNC_FCM_URL: fcm.baseUrl },
    registration: async (i) => {
      const fcmToken = `bench-${i}:APA91b${'Q'.repeat(140)}`;
      keys.set(fcmToken, token(i));
      return { platform: 'fcm', fcmToken };
    },
    accepted: () => accepted,
    waitFor: (condition, ms, what) => fcm.waitFor(condition, ms, what),
    close: () => fcm.close(),
  };
}

async function main(): Promise<void> {
  let step = -1;
  const target =
    platform === 'apns'
      ? await apnsTarget(() => step)
      : platform === 'fcm'
        ? await fcmTarget(() => step)
        : await webPushTarget(() => step);
  let server: RunningServer | null = null;
  try {
    server = await startServer('badgesync', { env: target.env });
    const running = server;
    const setupStart = performance.now();
    const indexes = Array.from({ length: accounts }, (_, i) => i);
    await inParallel(indexes, 32, async (i) => {
      await api(
        running,
        'PUT',
        `/v1/accounts/${account(i)}/devices/device-${i}`,
        await target.registration(i, running),
      );
    });
    const registeredMs = performance.now() - setupStart;
    // Each registration pushes the device its badge (0) once: wait for them all, which also
    // opens and warms the connections to the push service.
    await target.waitFor(
      () => target.accepted() >= accounts,
      120_000,
      () => `${accounts} first pushes`,
    );
    const setupMs = performance.now() - setupStart;
    process.stderr.write(
      `push bench: ${accounts} devices registered in ${fmt.int(registeredMs)} ms, first pushes after ${fmt.int(setupMs)} ms\n`,
    );
    const figures: StepFigures[] = [];
    const nextAccount = { i: 0 };
    for (const [index, rate] of rates.entries()) {
      step = index;
      figures.push(await runStep(running, index, rate, nextAccount));
      printTable([row(figures.at(-1) as StepFigures)], COLUMNS, process.stderr);
    }
    const table: Table = {
      title: `Pushes through the real server to the test ${target.name} server (coalescing window ${pushDelayMs} ms, the default)`,
      columns: COLUMNS,
      rows: figures.map(row),
      notes: [
        `${accounts} accounts with one offline device each (a token, no sync connection); posts go round-robin, so an account gets one post every ${fmt.fixed(accounts / Math.max(...rates), 1)} s or less often, and each post should make one push.`,
        `push latency: from sending the POST to the test ${target.name} server receiving the push carrying its item; the coalescing window (${pushDelayMs} ms) is its floor. pushes/s: pushes received in the step's span shifted by one window.`,
        platform === 'apns'
          ? 'client CPU: this process (load generator and the test APNs server, TLS and HTTP/2 included); server CPU: badgesync_process_cpu_seconds_total. 100 % = one core.'
          : platform === 'fcm'
            ? 'client CPU: this process (load generator and the test FCM server over HTTP/1.1, bearer token checked on every push); server CPU: badgesync_process_cpu_seconds_total. 100 % = one core.'
            : 'client CPU: this process (load generator and the test Web Push server: TLS, VAPID JWT check and aes128gcm decryption of every push); server CPU: badgesync_process_cpu_seconds_total. 100 % = one core.',
        `${quick ? 'quick' : 'full'} mode: ${stepMs / 1000} s per step.`,
      ],
    };
    const writes = storeWriteCosts();
    const perPush = writes.enqueuePush + writes.setDelivered + writes.removePush;
    const writesTable: Table = {
      title: 'The push path’s store writes, if each were its own fsync’d transaction (same disk, this run)',
      columns: ['write', 'when', 'µs each'],
      rows: [
        { write: 'enqueuePush', when: 'a change queues an offline device', 'µs each': fmt.int(writes.enqueuePush) },
        { write: 'setDelivered', when: 'APNs answers 200', 'µs each': fmt.int(writes.setDelivered) },
        { write: 'removePush', when: 'the outbox entry is done', 'µs each': fmt.int(writes.removePush) },
        { write: 'all three', when: 'one post → one push', 'µs each': fmt.int(perPush) },
      ],
      notes: [
        `The server puts them in the turn's group commit (one fsync with the updates and counts of that turn). Alone they would cost ${fmt.int(perPush)} µs of fsync per post-and-push, capping one node near ${fmt.int(1e6 / perPush)} posts/s on this disk (fsync times vary run to run).`,
      ],
    };
    const data = {
      platform,
      rates,
      stepMs,
      accounts,
      pushDelayMs,
      registeredMs,
      setupMs,
      otherAnswers,
      steps: figures,
      storeWritesMicros: writes,
    };
    emitResult(result.finish([table, writesTable], [], data));
  } finally {
    await server?.stop();
    await target.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`push bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
