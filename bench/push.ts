/**
 * Badge pushes end to end: items posted through the backend API at stepped rates,
 * spread over many accounts whose one device each is offline and registered with an APNs
 * token, through the real server process (default coalescing window) and the real apns2
 * client, to the test APNs server (HTTP/2, TLS, ES256 provider token checked); then the same
 * with FCM tokens, through the FCM HTTP v1 sender to the test FCM server (HTTP, OAuth access
 * token minted from the test service account and checked on every push); then with browser
 * subscriptions, through the web-push sender (VAPID, aes128gcm) to the test Web Push service
 * (HTTPS; it checks the VAPID JWT and decrypts every push).
 *
 *   node --import tsx bench/push.ts [--quick] [--rates 100,300,1000] [--step-s N] [--accounts N]
 *                                   [--platforms apns,fcm,webpush]
 *
 * Three processes, as in production, where Apple's and Google's servers are other machines:
 * this one (the load generator, the backend posting items), the server, and the stand-in for
 * the platform's push service (lib/push-stand-in.ts: the APNs and FCM test servers' runners,
 * servers/webpush-stand-in.ts), which stamps each push when it arrives and reports it here.
 * Run in this process, the stand-in stamped a push when this process's event loop got to it,
 * so at 1,000 posts/s the latency measured the generator's own loop as much as the server.
 * Send and arrival times are both Date.now() (one kernel clock; lib/push-stand-in.ts says why
 * not performance.now()).
 *
 * Per step: posts/s achieved, pushes/s sustained, latency from sending the POST to the
 * stand-in receiving the push that carries its item (p50/p99; the coalescing window is the
 * floor; the target is p99 ≤ window + 25 ms), the POST's own round trip, the CPU of the three
 * processes (this one's process.cpuUsage(), the server's `badgesync_process_cpu_seconds_total`,
 * the stand-in's from /proc) and the event-loop delay of this process and the server.
 * Quick: 5 s steps at 100, 300 and 1,000 posts/s over 2,000 accounts. Full: 20 s steps at 100,
 * 300, 600 and 1,000 posts/s over 3,000 accounts.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SETTINGS } from '@badgesync/server';
import { SqliteStore } from '../server/src/store/index.js';
import { listOption, numberOption } from './lib/args.js';
import { WorkerChannel } from './lib/ipc.js';
import { delta, scrape, total } from './lib/prometheus.js';
import { type PushStandIn, startPushStandIn } from './lib/push-stand-in.js';
import { beginResult, emitResult, fmt, type Table } from './lib/report.js';
import { api, inParallel, type RunningServer, startServer } from './lib/servers.js';
import { percentile, sortedCopy } from './lib/stats.js';
import { printTable } from './lib/table.js';
import type { WebPushArrival, WebPushSubscribed } from './servers/webpush-stand-in.js';

const result = beginResult(
  'push',
  'Badge pushes: backend POST → server → apns2 / FCM v1 / web-push → test APNs / FCM / Web Push server',
);
const quick = result.mode === 'quick';

type Platform = 'apns' | 'fcm' | 'webpush';
const platforms = listOption('platforms', ['apns', 'fcm', 'webpush']) as Platform[];
const rates = listOption('rates', quick ? ['100', '300', '1000'] : ['100', '300', '600', '1000']).map(Number);
const stepMs = numberOption('step-s', quick ? 5 : 20) * 1000;
/**
 * Three accounts per post/s of the fastest step (two in a quick run, to keep its set-up short):
 * each account gets a post every 3 s (2 s) or less often, at least two coalescing windows apart,
 * so every post should make its own push.
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

const apnsToken = (i: number) => createHash('sha256').update(`bench-device-${i}`).digest('hex');
const fcmToken = (i: number) => `bench-${i}:APA91b${'Q'.repeat(140)}`;
/** The token of account i's device on the platform being measured. */
let token: (i: number) => string = apnsToken;
const account = (i: number) => `bench-${i}`;

/** A post waiting for its push: when it was sent and the badge it made. */
interface Waiting {
  readonly sentAt: number;
  /** When the POST's answer arrived: the ingest had committed by then. */
  readonly answeredAt: number;
  readonly badge: number;
  readonly step: number;
}

const waiting = new Map<string, Waiting[]>();
/** Per token: the badges APNs accepted and when, for a POST whose answer comes after its push. */
const pushed = new Map<string, Array<{ readonly badge: number; readonly at: number }>>();
/** Per step: latencies (ms) from POST sent to push received, and APNs arrival times. */
const latencies: number[][] = rates.map(() => []);
/** Per step: from the POST's answer (the ingest committed) to its push received (ms). */
const afterAnswer: number[][] = rates.map(() => []);
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
    afterAnswer[post.step]?.push(receivedAt - post.answeredAt);
  }
  if (queue.length === 0) waiting.delete(tokenHex);
}

/** A POST answered: its push may already be in (an answer slower than the window), else it waits. */
function onPosted(tokenHex: string, post: Waiting): void {
  const early = pushed.get(tokenHex)?.find((push) => push.badge >= post.badge && push.at >= post.sentAt);
  if (early !== undefined) {
    latencies[post.step]?.push(early.at - post.sentAt);
    afterAnswer[post.step]?.push(early.at - post.answeredAt);
    return;
  }
  const queue = waiting.get(tokenHex) ?? [];
  queue.push(post);
  waiting.set(tokenHex, queue);
}

/** Forgets the previous platform's pushes and latencies. */
function resetState(): void {
  waiting.clear();
  pushed.clear();
  for (const list of [...latencies, ...afterAnswer, ...arrivals]) list.length = 0;
}

interface StepFigures {
  readonly platform: string;
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
  /** From the POST's answer to its push (the window's floor; the POST's own time excluded). */
  readonly afterAnswerP50: number;
  readonly afterAnswerP99: number;
  readonly postP50: number;
  readonly postP99: number;
  /** This process (the load generator) over the sending span. */
  readonly clientCpu: number;
  readonly serverCpu: number;
  /** The test push server's process, over the same span as the server's (sending and drain). */
  readonly standInCpu: number;
  /**
   * p99 of this process's event-loop delay over the step: a late loop sends the posts due
   * meanwhile in one burst and stamps a POST's answer late (a shorter answer→push, a longer
   * POST); a push's arrival is stamped in the stand-in's process, not here.
   */
  readonly clientLagP99: number;
  /** p99 of the server's event-loop delay over the step (prom-client resets it on each scrape). */
  readonly serverLagP99: number;
  readonly sentMetric: number;
}

async function runStep(
  platform: string,
  server: RunningServer,
  service: PushService,
  step: number,
  rate: number,
  nextAccount: { i: number },
) {
  const before = await scrape(server.http);
  const cpuBefore = process.cpuUsage();
  const standInBefore = service.cpuSeconds();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const posts: number[] = [];
  let issued = 0;
  let inFlight = 0;
  let behind = 0;
  let failed = 0;
  let firstFailure: string | undefined;
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
              onPosted(token(i), { sentAt, answeredAt: Date.now(), badge: answer.badge, step });
            },
            (err: unknown) => {
              failed++;
              firstFailure ??= err instanceof Error ? err.message : String(err);
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
  loop.disable();
  const standInCpuS = service.cpuSeconds() - standInBefore;
  const after = await scrape(server.http);
  const undelivered = [...waiting.values()].reduce((n, q) => n + q.filter((w) => w.step === step).length, 0);
  const shifted = (arrivals[step] ?? []).filter((at) => at >= started + pushDelayMs && at < ended + pushDelayMs);
  const lat = sortedCopy(latencies[step] ?? []);
  const answered = sortedCopy(afterAnswer[step] ?? []);
  const post = sortedCopy(posts);
  if (failed > 0) throw new Error(`${failed} posts failed at ${rate}/s, the first: ${firstFailure}`);
  const figures: StepFigures = {
    platform,
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
    afterAnswerP50: percentile(answered, 50),
    afterAnswerP99: percentile(answered, 99),
    postP50: percentile(post, 50),
    postP99: percentile(post, 99),
    clientCpu: (cpu.user + cpu.system) / 1e6 / wallS,
    serverCpu: delta(before, after, 'badgesync_process_cpu_seconds_total') / ((Date.now() - started) / 1000),
    standInCpu: standInCpuS / ((Date.now() - started) / 1000),
    clientLagP99: loop.percentile(99) / 1e6,
    serverLagP99: total(after, 'badgesync_nodejs_eventloop_lag_p99_seconds') * 1000,
    sentMetric: delta(before, after, 'badgesync_pushes_sent_total'),
  };
  return figures;
}

function row(f: StepFigures): Record<string, string | null> {
  return {
    platform: f.platform,
    'posts/s target': fmt.int(f.rate),
    'posts/s': fmt.int(f.postsPerS),
    'pushes/s': fmt.int(f.pushesPerS),
    'pushes / posts': fmt.fixed(f.pushes / f.posts, 2),
    'push p50 ms': fmt.int(f.latencyP50),
    'push p99 ms': fmt.int(f.latencyP99),
    'push max ms': fmt.int(f.latencyMax),
    'answer→push p50 ms': fmt.int(f.afterAnswerP50),
    'answer→push p99 ms': fmt.int(f.afterAnswerP99),
    'POST p50 ms': fmt.ms(f.postP50),
    'POST p99 ms': fmt.ms(f.postP99),
    undelivered: fmt.int(f.undelivered),
    'client CPU': `${Math.round(f.clientCpu * 100)} %`,
    'server CPU': `${Math.round(f.serverCpu * 100)} %`,
    'stand-in CPU': `${Math.round(f.standInCpu * 100)} %`,
    'server loop lag p99 ms': fmt.int(f.serverLagP99),
    'client loop lag p99 ms': fmt.int(f.clientLagP99),
  };
}

const COLUMNS = [
  'platform',
  'posts/s target',
  'posts/s',
  'pushes/s',
  'pushes / posts',
  'push p50 ms',
  'push p99 ms',
  'push max ms',
  'answer→push p50 ms',
  'answer→push p99 ms',
  'POST p50 ms',
  'POST p99 ms',
  'undelivered',
  'client CPU',
  'server CPU',
  'stand-in CPU',
  'server loop lag p99 ms',
  'client loop lag p99 ms',
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

/** A test push service in its own process and the settings and registration that point at it. */
interface PushService {
  readonly env: Record<string, string>;
  /** The PUT body registering account i's device. */
  body(i: number): Record<string, unknown>;
  /** Accepted pushes so far (for the registrations' first pushes). */
  accepted(): number;
  /** Runs once the server is up, before the registrations (Web Push fetches the VAPID key). */
  prepare?(server: RunningServer): Promise<void>;
  waitFor(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void>;
  /** CPU seconds the stand-in's process has used so far. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** What every service shares: its stand-in's CPU, waits and close. */
function standInParts<Info>(standIn: PushStandIn<Info>): Pick<PushService, 'waitFor' | 'cpuSeconds' | 'close'> {
  return { waitFor: standIn.waitFor, cpuSeconds: standIn.cpuSeconds, close: standIn.close };
}

/** A push that reached a stand-in and was accepted: counts for `step` (when one runs). */
function arrived(step: { index: number }, key: string, badge: number, receivedAt: number): void {
  if (step.index >= 0) arrivals[step.index]?.push(receivedAt);
  onPush(key, badge, receivedAt);
}

/** The ready line of test/helpers/apns-test-server-main.ts (the fields read here). */
interface ApnsInfo {
  readonly address: string;
  readonly caPath: string;
  readonly keyPath: string;
  readonly keyId: string;
  readonly teamId: string;
}

/** A request line of test/helpers/apns-test-server-main.ts (the fields read here). */
interface ApnsLine {
  /** When the request arrived (ISO, whole milliseconds of Date.now()). */
  readonly at: string;
  readonly deviceToken: string;
  readonly payload: unknown;
  readonly answer: { readonly status?: number } | null;
}

async function apnsService(step: { index: number }): Promise<PushService> {
  let accepted = 0;
  const apns = await startPushStandIn<ApnsInfo, ApnsLine>('apns', (line) => {
    if (line.answer?.status !== 200) {
      otherAnswers++;
      return;
    }
    accepted++;
    arrived(step, line.deviceToken, (line.payload as { aps: { badge: number } }).aps.badge, Date.parse(line.at));
  });
  const { info } = apns;
  return {
    env: {
      NODE_EXTRA_CA_CERTS: info.caPath,
      BADGESYNC_APNS_HOST: info.address,
      BADGESYNC_APNS_KEY_FILE: info.keyPath,
      BADGESYNC_APNS_KEY_ID: info.keyId,
      BADGESYNC_APNS_TEAM_ID: info.teamId,
      BADGESYNC_APNS_TOPIC: 'com.example.badgesync',
    },
    body: (i) => ({ apnsToken: apnsToken(i) }),
    accepted: () => accepted,
    ...standInParts(apns),
  };
}

/** A request line of test/helpers/fcm-test-server-main.ts (the fields read here). */
interface FcmLine {
  /** When the request arrived (ISO, whole milliseconds of Date.now()). */
  readonly at: string;
  readonly token: string;
  readonly message: { readonly data?: { readonly badge?: string } } | undefined;
  readonly status: number | undefined;
}

async function fcmService(step: { index: number }): Promise<PushService> {
  let accepted = 0;
  const fcm = await startPushStandIn<{ baseUrl: string; keyPath: string }, FcmLine>('fcm', (line) => {
    if (line.status !== 200) {
      otherAnswers++;
      return;
    }
    accepted++;
    arrived(step, line.token, Number(line.message?.data?.badge), Date.parse(line.at));
  });
  return {
    env: { BADGESYNC_FCM_SERVICE_ACCOUNT: fcm.info.keyPath, BADGESYNC_FCM_URL: fcm.info.baseUrl },
    body: (i) => ({ platform: 'fcm', fcmToken: fcmToken(i) }),
    accepted: () => accepted,
    ...standInParts(fcm),
  };
}

async function webPushService(step: { index: number }): Promise<PushService> {
  /** Subscription id → the device's key in `waiting`/`pushed` (its token(i)). */
  const keys = new Map<string, string>();
  /** Account i's subscription, made in the stand-in before the registrations. */
  let subscriptions: WebPushSubscribed[] = [];
  let accepted = 0;
  const service = await startPushStandIn<{ address: string; caPath: string }, WebPushArrival>('webpush', (push) => {
    if (push.status !== 201 || push.badge === null) {
      otherAnswers++;
      return;
    }
    accepted++;
    arrived(step, keys.get(push.subscriptionId) ?? '', push.badge, push.receivedAt);
  });
  const channel = new WorkerChannel(service.child);
  return {
    env: {
      NODE_EXTRA_CA_CERTS: service.info.caPath,
      BADGESYNC_WEBPUSH_HOSTS: service.info.address,
      BADGESYNC_VAPID_SUBJECT: 'mailto:bench@example.com',
    },
    prepare: async (server) => {
      const { publicKey } = await api<{ publicKey: string }>(server, 'GET', '/v1/push/webpush-key');
      subscriptions = await channel.request<WebPushSubscribed[]>('subscribe', { publicKey, count: accounts });
    },
    body: (i) => {
      const { subscription, id } = subscriptions[i] as WebPushSubscribed;
      keys.set(id, token(i));
      return { platform: 'webpush', subscription };
    },
    accepted: () => accepted,
    ...standInParts(service),
  };
}

/** Every step against one platform's test service; resets the shared state first. */
async function runPlatform(
  platform: Platform,
): Promise<{ figures: StepFigures[]; registeredMs: number; setupMs: number }> {
  resetState();
  // Web Push devices are keyed by the APNs-style token of their index (their endpoint is random).
  token = platform === 'fcm' ? fcmToken : apnsToken;
  const step = { index: -1 };
  const service =
    platform === 'apns'
      ? await apnsService(step)
      : platform === 'fcm'
        ? await fcmService(step)
        : await webPushService(step);
  let server: RunningServer | null = null;
  try {
    server = await startServer('badgesync', {
      env: {
        ...service.env,
        // This process is one backend address with up to MAX_POSTS_IN_FLIGHT posts open (a
        // socket each, and more closing): past the default 256 per address, a slow moment of
        // the server turned into 503 too_many_connections and a failed step.
        BADGESYNC_MAX_PREAUTH_SOCKETS_PER_ADDRESS: String(4 * MAX_POSTS_IN_FLIGHT),
      },
    });
    const running = server;
    await service.prepare?.(running);
    const setupStart = performance.now();
    const indexes = Array.from({ length: accounts }, (_, i) => i);
    await inParallel(indexes, 32, async (i) => {
      await api(running, 'PUT', `/v1/accounts/${account(i)}/devices/device-${i}`, service.body(i));
    });
    const registeredMs = performance.now() - setupStart;
    // Each registration pushes the device its badge (0) once: wait for them all, which also
    // opens and warms the connection to the push service (and, for FCM, mints the access token).
    await service.waitFor(
      () => service.accepted() >= accounts,
      120_000,
      () => `${accounts} first pushes`,
    );
    const setupMs = performance.now() - setupStart;
    process.stderr.write(
      `push bench (${platform}): ${accounts} devices registered in ${fmt.int(registeredMs)} ms, first pushes after ${fmt.int(setupMs)} ms\n`,
    );
    const figures: StepFigures[] = [];
    const nextAccount = { i: 0 };
    for (const [index, rate] of rates.entries()) {
      step.index = index;
      figures.push(await runStep(platform, running, service, index, rate, nextAccount));
      printTable([row(figures.at(-1) as StepFigures)], COLUMNS, process.stderr);
    }
    return { figures, registeredMs, setupMs };
  } finally {
    await server?.stop();
    await service.close();
  }
}

async function main(): Promise<void> {
  const runs = [];
  for (const platform of platforms) runs.push({ platform, ...(await runPlatform(platform)) });
  const figures = runs.flatMap((run) => run.figures);
  const table: Table = {
    title: `Pushes through the real server to the test APNs, FCM and Web Push servers (coalescing window ${pushDelayMs} ms, the default)`,
    columns: COLUMNS,
    rows: figures.map(row),
    notes: [
      `${accounts} accounts with one offline device each (a token, no sync connection); posts go round-robin, so an account gets one post every ${fmt.fixed(accounts / Math.max(...rates), 1)} s or less often, and each post should make one push.`,
      `push latency: from sending the POST to the test push server receiving the push carrying its item; the coalescing window (${pushDelayMs} ms) is its floor. answer→push: from the POST's answer (the ingest committed, where the window starts) to the push, so the POST's own time is left out. pushes/s: pushes received in the step's span shifted by one window.`,
      'apns: apns2 over HTTP/2 + TLS to the test APNs server; fcm: one HTTP/1.1 POST per push (fetch, keep-alive) to the test FCM server, which checks the OAuth bearer token on each; webpush: one HTTPS POST per push (keep-alive; web-push encrypts each with a new ECDH key, aes128gcm; the VAPID JWT is signed once per origin per hour) to the test Web Push service, which verifies the JWT and decrypts each.',
      'client CPU: this process, the load generator, over the sending span; server CPU: badgesync_process_cpu_seconds_total; stand-in CPU: the test push server, a process of its own (TLS, HTTP/2, the JWT check, decryption, and a JSON line or IPC message per push to this process), both from the step’s start to the end of its drain. 100 % = one core.',
      'push arrivals are stamped in the stand-in’s process with Date.now(), send times in this one with Date.now(): one machine, one kernel realtime clock, so they compare to the millisecond.',
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
    rates,
    stepMs,
    accounts,
    pushDelayMs,
    platforms: runs.map(({ platform, registeredMs, setupMs }) => ({ platform, registeredMs, setupMs })),
    otherAnswers,
    steps: figures,
    storeWritesMicros: writes,
  };
  emitResult(result.finish([table, writesTable], [], data));
}

main().catch((err: unknown) => {
  process.stderr.write(`push bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
