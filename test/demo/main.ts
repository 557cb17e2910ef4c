/**
 * `pnpm demo`: one account, five devices, and the badge on each kept right.
 *
 * A server process on a temporary database sends badge pushes to a test APNs server
 * (HTTP/2, TLS with a private CA), a test FCM server and a test Web Push service. The iPhone,
 * the Android phone and the browser (a closed web app) are offline: each shows the last badge
 * its push service delivered (the browser's decrypted from the aes128gcm payload). The Mac runs the SDK online. The iPad runs the SDK through a
 * tunnel it loses for a while: it reads offline and comes back. New messages arrive, the
 * Mac reads some; after every step the table shows each device's badge beside the truth
 * (`GET /badge`). Exit code 0 when every device matched the truth after every step (the
 * iPad is excused while it is in the tunnel), 1 otherwise.
 *
 * `pnpm cluster` (`--cluster`): the same scene on three nodes of one cluster (docs/CLUSTER.md)
 * on loopback ports, sharing the local PostgreSQL (database `badgesync_cluster_demo`, created
 * when missing) and Redis (a fresh key prefix): the phones register through different nodes,
 * the Mac and the iPad sync through different nodes, and the backend's posts go round them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FileStorage } from '@badgesync/client/node';
import { api, badge, deviceToken } from '../helpers/api-client.js';
import { ApnsTestServer } from '../helpers/apns-test-server.js';
import { clusterRig } from '../helpers/cluster.js';
import { FcmTestServer } from '../helpers/fcm-test-server.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { WebPushTestServer } from '../helpers/webpush-test-server.js';
import { sdkDevice, until } from './sdk-device.js';
import { bold, dim, green, header, pushLine, red, row } from './table.js';
import { Tunnel } from './tunnel.js';

/** Three nodes of one cluster instead of one server (`pnpm cluster`). */
const CLUSTER = process.argv.includes('--cluster');
/** The demo database of `pnpm cluster`, kept between runs (each run has an account of its own). */
const CLUSTER_DATABASE = 'badgesync_cluster_demo';
const ACCOUNT = CLUSTER ? `alice-${Date.now().toString(36)}` : 'alice';
const TOPIC = 'com.example.badgesync';
/** How long one step may take to settle: a push takes the coalescing window plus a round trip (~0.3 s); 4 s keeps a broken run under a minute. */
const SETTLE_MS = 4_000;
/** A pause after each row, so a person can follow the table; the scene still ends within seconds. */
const STEP_PAUSE_MS = 400;
/** Small windows so the scene plays in seconds: 150 ms coalescing, 300 ms grace, 1 s heartbeats. */
const SERVER_ENV = {
  BADGESYNC_PUSH_DELAY_MS: '150',
  BADGESYNC_OFFLINE_GRACE_MS: '300',
  BADGESYNC_HEARTBEAT_MS: '1000',
} as const;

const iphoneToken = createHash('sha256').update('demo iPhone').digest('hex');
/** An FCM registration token of the usual shape: an id, a colon, a long base64url tail. */
const androidToken = `demo-android:APA91b${createHash('sha256').update('demo Android').digest('base64url')}`;

async function main(): Promise<boolean> {
  const started = Date.now();
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  try {
    return await play(started, cleanup);
  } finally {
    for (const step of cleanup.reverse()) await Promise.allSettled([step()]);
    await stopAll();
  }
}

/** One PEM file holding every given CA, in `dir`. */
function caBundle(dir: string, paths: readonly string[]): string {
  const bundle = path.join(dir, 'ca-bundle.pem');
  writeFileSync(bundle, paths.map((p) => readFileSync(p, 'utf8')).join('\n'));
  return bundle;
}

async function play(started: number, cleanup: Array<() => Promise<unknown> | unknown>): Promise<boolean> {
  const folderForCas = mkdtempSync(path.join(tmpdir(), 'badgesync-demo-ca-'));
  cleanup.push(() => rmSync(folderForCas, { recursive: true, force: true }));
  const apns = await ApnsTestServer.start();
  cleanup.push(() => apns.close());
  const [fcm, webPush] = await Promise.all([FcmTestServer.start(), WebPushTestServer.start()]);
  cleanup.push(
    () => fcm.close(),
    () => webPush.close(),
  );
  const env = {
    ...SERVER_ENV,
    BADGESYNC_FCM_SERVICE_ACCOUNT: fcm.keyPath,
    BADGESYNC_FCM_URL: fcm.baseUrl,
    BADGESYNC_WEBPUSH_HOSTS: webPush.address,
    BADGESYNC_VAPID_SUBJECT: 'mailto:demo@example.com',
    BADGESYNC_APNS_KEY_FILE: apns.keyPath,
    BADGESYNC_APNS_KEY_ID: apns.keyId,
    BADGESYNC_APNS_TEAM_ID: apns.teamId,
    BADGESYNC_APNS_TOPIC: TOPIC,
    BADGESYNC_APNS_HOST: apns.address,
    // Both test services' CAs: Node reads one file, so the two PEMs go in one.
    NODE_EXTRA_CA_CERTS: caBundle(folderForCas, [apns.caPath, webPush.caPath]),
  };
  const nodes = await startNodes(env, cleanup);
  const server = nodes[0] as ServerProcess;
  /** The node the i-th device or post goes through: round the cluster's nodes (one node: always it). */
  const on = (i: number) => nodes[i % nodes.length] as ServerProcess;
  const folder = mkdtempSync(path.join(tmpdir(), 'badgesync-demo-'));
  cleanup.push(() => rmSync(folder, { recursive: true, force: true }));
  const tunnel = await Tunnel.open(on(2).port);
  cleanup.push(() => tunnel.close());
  let iphoneShown = 0;
  cleanup.push(
    apns.onAnswer((request) => {
      const status = request.answer !== null && 'status' in request.answer ? request.answer.status : 'cancelled';
      const aps = (request.payload as { aps?: { badge?: unknown } } | undefined)?.aps;
      if (request.deviceToken === iphoneToken && status === 200 && typeof aps?.badge === 'number') {
        iphoneShown = aps.badge;
      }
      const name = request.deviceToken === iphoneToken ? 'iPhone' : request.deviceToken.slice(0, 8);
      console.log(pushLine(name, aps?.badge, status));
    }),
  );
  {
    console.log(bold('badgesync demo: one account, five devices, one badge'));
    if (CLUSTER) {
      const urls = nodes.map((node) => node.http).join(', ');
      console.log(dim(`  cluster ${urls} (PostgreSQL ${CLUSTER_DATABASE}, Redis; account ${ACCOUNT})`));
    } else console.log(dim(`  server  ${server.http} (SQLite in ${server.dir})`));
    console.log(dim(`  APNs    test server at ${apns.address} (HTTP/2, TLS, private CA)`));
    console.log(dim(`  FCM     test server at ${fcm.baseUrl}; Web Push test service at ${webPush.address}`));
    console.log(dim('  iPhone  offline; shows the last badge APNs delivered to it'));
    console.log(dim('  Android offline; shows the last badge FCM delivered to it'));
    console.log(dim('  Browser a closed web app; shows the last badge its push service delivered'));
    console.log(dim('  Mac     SDK, online'));
    console.log(dim('  iPad    SDK, through a tunnel it will lose for a while\n'));

    // The iPhone registers its APNs token with its own device token, then is never online.
    const iphoneJwt = await deviceToken(server, ACCOUNT, 'iphone');
    const registered = await api(
      server,
      'PUT',
      `/v1/accounts/${ACCOUNT}/devices/iphone`,
      { apnsToken: iphoneToken, environment: 'sandbox', badges: true },
      iphoneJwt,
    );
    if (registered.status !== 200) throw new Error(`iPhone registration: ${registered.status}`);
    // The Android phone registers its FCM token; the web app the subscription its browser made
    // with the server's VAPID key. Both with their own device tokens, and never online.
    const androidJwt = await deviceToken(server, ACCOUNT, 'android');
    const browserJwt = await deviceToken(server, ACCOUNT, 'browser');
    const vapid = await api<{ publicKey: string }>(on(2), 'GET', '/v1/push/webpush-key', undefined, browserJwt);
    const subscription = webPush.subscribe(vapid.body.publicKey);
    for (const [device, body, jwt, node] of [
      ['android', { platform: 'fcm', fcmToken: androidToken }, androidJwt, on(1)],
      ['browser', { platform: 'webpush', subscription }, browserJwt, on(2)],
    ] as const) {
      const answer = await api(node, 'PUT', `/v1/accounts/${ACCOUNT}/devices/${device}`, body, jwt);
      if (answer.status !== 200)
        throw new Error(`${device} registration: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    const androidShown = () => {
      const last = fcm.requests.filter((r) => r.token === androidToken && r.status === 200).at(-1);
      const badge = (last?.body as { message?: { data?: { badge?: string } } } | undefined)?.message?.data?.badge;
      return badge === undefined ? 0 : Number(badge);
    };
    const browserShown = () => webPush.delivered(subscription).at(-1) ?? 0;
    const mac = await sdkDevice({
      server: on(1),
      account: ACCOUNT,
      device: 'mac',
      storage: new FileStorage(path.join(folder, 'mac')),
    });
    const ipad = await sdkDevice({
      server: on(2),
      account: ACCOUNT,
      device: 'ipad',
      storage: new FileStorage(path.join(folder, 'ipad')),
      serverUrl: tunnel.url,
    });
    cleanup.push(
      () => mac.close(),
      () => ipad.close(),
    );
    await Promise.all([mac.account.whenSynced(SETTLE_MS), ipad.account.whenSynced(SETTLE_MS)]);

    console.log(header(['iPhone', 'Android', 'Browser', 'Mac', 'iPad']));
    let step = 0;
    let allOk = true;
    let ipadAway = false;
    const shown = () => [
      { value: iphoneShown, excused: false },
      { value: androidShown(), excused: false },
      { value: browserShown(), excused: false },
      { value: mac.sync.badge, excused: false },
      { value: ipad.sync.badge, excused: ipadAway },
    ];
    /** Runs one action, waits until every device that can match the truth does, prints the row. */
    const play = async (what: string, action: () => Promise<unknown> | unknown) => {
      await action();
      let truth = (await badge(server, ACCOUNT)).badge;
      try {
        await until(
          async () => {
            truth = (await badge(server, ACCOUNT)).badge;
            return shown().every((cell) => cell.excused || cell.value === truth);
          },
          SETTLE_MS,
          what,
        );
      } catch {
        // Printed as ✗ below.
      }
      const line = row({ step: ++step, what, truth, shown: shown() });
      allOk &&= line.ok;
      console.log(line.text);
      await new Promise((resolve) => setTimeout(resolve, STEP_PAUSE_MS));
    };
    let posts = 0;
    const post = (thread: string, count: number) =>
      api(on(posts++), 'POST', `/v1/accounts/${ACCOUNT}/items`, { thread, count });

    await play('everyone signed in', () => {});
    await play('3 new messages in inbox', () => post('inbox', 3));
    await play('2 new messages in #general', () => post('general', 2));
    await play('Mac reads inbox up to 2', () => mac.account.markRead('inbox', 2));
    await play('iPad enters a tunnel (offline)', async () => {
      ipadAway = true;
      tunnel.cut();
      await until(() => ipad.account.status.state !== 'synced', SETTLE_MS, 'iPad offline');
    });
    await play('iPad reads #general, offline', () => ipad.account.markRead('general', 2));
    await play('1 new message in inbox', () => post('inbox', 1));
    await play('iPad leaves the tunnel; its read merges', async () => {
      tunnel.restore();
      await ipad.account.whenSynced(SETTLE_MS);
      ipadAway = false;
    });
    await play('4 new messages in #general', () => post('general', 4));
    await play('Mac marks everything read', () => mac.account.markAllRead());

    console.log(dim('  * offline: the device shows its own count (it cannot know better), so it need not match'));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const pushes =
      apns.requestsFor(iphoneToken).length +
      fcm.requests.filter((r) => r.token === androidToken).length +
      webPush.requestsFor(subscription).length;
    console.log('');
    if (allOk) {
      console.log(
        green(
          `Every device matched the truth after every step (${pushes} pushes to the phones and the browser, ${seconds} s).`,
        ),
      );
    } else {
      console.log(
        red(
          `Some device did not match the truth (rows marked ✗). ${pushes} pushes to the phones and the browser, ${seconds} s.`,
        ),
      );
      if (pushes === 0)
        console.log(red('No push reached a test push service: is the push pipeline wired into the server?'));
    }
    return allOk;
  }
}

/** One server on SQLite, or (`--cluster`) three nodes of one cluster; stopped by `stopAll()`. */
async function startNodes(
  env: Readonly<Record<string, string>>,
  cleanup: Array<() => Promise<unknown> | unknown>,
): Promise<ServerProcess[]> {
  if (!CLUSTER) return [await startServer({ env })];
  const rig = await clusterRig({ keep: CLUSTER_DATABASE });
  cleanup.push(() => rig.drop());
  // The first node migrates the database; the other two find it done.
  const first = await rig.start('demo-node-1', env);
  return [first, ...(await Promise.all([rig.start('demo-node-2', env), rig.start('demo-node-3', env)]))];
}

main().then(
  (ok) => {
    process.exitCode = ok ? 0 : 1;
  },
  (err: unknown) => {
    console.error(red(`demo failed: ${(err as Error)?.stack ?? err}`));
    process.exitCode = 1;
  },
);
