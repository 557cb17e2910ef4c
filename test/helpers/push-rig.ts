/**
 * The push end-to-end rig: the real server process sending through the real apns2 client to
 * an `ApnsTestServer`, with windows small enough that a test takes a second, not a minute.
 * Conditions are waited for (pushes arriving, metrics moving), never fixed times.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { api } from './api-client.js';
import { type ApnsRequestRecord, ApnsTestServer } from './apns-test-server.js';
import { metric } from './metrics.js';
import { type ServerProcess, startServer, stopAll } from './server-process.js';

/**
 * Windows for push tests: a 100 ms coalescing window, 200 ms of grace after a disconnect,
 * heartbeats every second (a silent link is cut within ~2.25 s). Not shorter: a live device is
 * cut when its pong is not read within about three quarters of an interval after the ping
 * (SPEC SYNC-8), so at 300 ms a stall of the test or server process of a few hundred ms on a
 * loaded machine could cut a live device, which was then pushed ("online: not pushed" failed).
 */
export const FAST_PUSH_ENV = {
  BADGESYNC_PUSH_DELAY_MS: '100',
  BADGESYNC_OFFLINE_GRACE_MS: '200',
  BADGESYNC_HEARTBEAT_MS: '1000',
} as const;

/** The topic the server is configured with; devices that register none use it. */
export const DEFAULT_TOPIC = 'com.example.badgesync';

/** Waits for pushes: retries (≥ 0.5 s, then ≥ 1 s, …) and a loaded machine fit well inside. */
export const PUSH_WAIT_MS = 15_000;

/** The BADGESYNC_APNS_* settings pointing the server at `apns` (with `keyPath` as its key). */
export function apnsEnv(apns: ApnsTestServer, keyPath: string = apns.keyPath): Record<string, string> {
  return {
    BADGESYNC_APNS_KEY_FILE: keyPath,
    BADGESYNC_APNS_KEY_ID: apns.keyId,
    BADGESYNC_APNS_TEAM_ID: apns.teamId,
    BADGESYNC_APNS_TOPIC: DEFAULT_TOPIC,
    BADGESYNC_APNS_HOST: apns.address,
    NODE_EXTRA_CA_CERTS: apns.caPath,
  };
}

export interface PushRig {
  readonly apns: ApnsTestServer;
  server: ServerProcess;
  /** Kills the server (and every other this file started is killed by stopAll) and closes APNs. */
  close(): Promise<void>;
}

/** A test APNs server and a server process sending to it, with FAST_PUSH_ENV unless overridden. */
export async function startPushRig(env: Readonly<Record<string, string>> = {}): Promise<PushRig> {
  const apns = await ApnsTestServer.start();
  try {
    const server = await startServer({ env: { ...FAST_PUSH_ENV, ...apnsEnv(apns), ...env } });
    const rig: PushRig = {
      apns,
      server,
      async close() {
        await rig.server.kill();
        await apns.close();
      },
    };
    return rig;
  } catch (err) {
    await apns.close();
    throw err;
  }
}

/** A well-formed APNs device token (64 hex digits) derived from a name. */
export function apnsToken(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

export interface Registration {
  readonly apnsToken?: string;
  readonly environment?: 'production' | 'sandbox';
  readonly topic?: string;
  readonly badges?: boolean;
}

/** PUT /v1/accounts/{account}/devices/{device}; answers the token registered (by default one derived from the device). */
export async function register(
  server: ServerProcess,
  account: string,
  device: string,
  body: Registration = {},
): Promise<string> {
  const token = body.apnsToken ?? apnsToken(device);
  const answer = await api(server, 'PUT', `/v1/accounts/${account}/devices/${device}`, { apnsToken: token, ...body });
  if (answer.status !== 200) throw new Error(`PUT device ${answer.status} ${JSON.stringify(answer.body)}`);
  return token;
}

/** POST items; answers the account's badge after them. */
export async function post(server: ServerProcess, account: string, thread: string, count = 1): Promise<number> {
  const answer = await api<{ badge: number }>(server, 'POST', `/v1/accounts/${account}/items`, { thread, count });
  if (answer.status !== 200) throw new Error(`POST items ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.badge;
}

/** The badge of a request's payload (`aps.badge`), or undefined. */
export function badgeOf(request: ApnsRequestRecord): number | undefined {
  const aps = (request.payload as { aps?: { badge?: unknown } } | undefined)?.aps;
  return typeof aps?.badge === 'number' ? aps.badge : undefined;
}

function accepted(request: ApnsRequestRecord): boolean {
  return request.answer !== null && 'status' in request.answer && request.answer.status === 200;
}

/** Badges APNs accepted (answered 200) for a token, in order. */
export function delivered(apns: ApnsTestServer, token: string): number[] {
  return apns
    .requestsFor(token)
    .filter(accepted)
    .map((request) => badgeOf(request) ?? Number.NaN);
}

/** Waits until the last badge APNs accepted for `token` is `badge`. */
export async function waitForBadge(apns: ApnsTestServer, token: string, badge: number, ms = PUSH_WAIT_MS) {
  await apns.waitFor(
    () => delivered(apns, token).at(-1) === badge,
    ms,
    () => `badge ${badge} delivered to ${token.slice(0, 8)}… (delivered so far: ${delivered(apns, token).join(', ')})`,
  );
}

/** Waits until `token` has had `count` requests, answered or not. */
export async function waitForRequests(apns: ApnsTestServer, token: string, count: number, ms = PUSH_WAIT_MS) {
  await apns.waitFor(
    () => apns.requestsFor(token).filter((r) => r.answer !== null).length >= count,
    ms,
    () => `${count} answered requests for ${token.slice(0, 8)}… (got ${apns.requestsFor(token).length})`,
  );
}

/** Polls /metrics until metric `name` (summed over samples matching `labels`) passes `check`. */
export async function waitForMetric(
  server: ServerProcess,
  name: string,
  labels: Readonly<Record<string, string>>,
  check: (value: number) => boolean,
  ms = PUSH_WAIT_MS,
): Promise<number> {
  const until = Date.now() + ms;
  let value = Number.NaN;
  for (;;) {
    value = await metric(server, name, labels);
    if (check(value)) return value;
    if (Date.now() > until) throw new Error(`timed out waiting on ${name}${JSON.stringify(labels)} (last ${value})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Calls `check` every 20 ms until it answers true; rejects after `ms` naming `what`. */
export async function poll(check: () => Promise<boolean>, what: string, ms = PUSH_WAIT_MS): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits for the server's first log line with message `msg` and answers it. */
export async function waitForLog(
  server: ServerProcess,
  msg: string,
  ms = PUSH_WAIT_MS,
): Promise<Record<string, unknown>> {
  let line: Record<string, unknown> | undefined;
  await poll(
    async () => {
      line = server.logs.find((entry) => entry.msg === msg);
      return line !== undefined;
    },
    `log line "${msg}"`,
    ms,
  );
  return line as Record<string, unknown>;
}

/** A P-256 key APNs does not know (a wrong BADGESYNC_APNS_KEY_FILE); `remove()` deletes it. */
export function strangerKey(): { readonly keyPath: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'badgesync-wrong-key-'));
  const keyPath = path.join(dir, 'AuthKey_WRONG.p8');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { keyPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const CLOCK_SHIFT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'clock-shift.mjs');

/**
 * Environment that preloads clock-shift.mjs into the server process: each SIGUSR2 moves its
 * `Date.now()` forward by `stepMs` and logs `test clock advanced`. Timers are untouched.
 */
export function clockShiftEnv(stepMs: number): Record<string, string> {
  const preload = `--import=${pathToFileURL(CLOCK_SHIFT).href}`;
  return {
    NODE_OPTIONS: [process.env.NODE_OPTIONS, preload].filter((part) => part !== undefined && part !== '').join(' '),
    BADGESYNC_TEST_CLOCK_STEP_MS: String(stepMs),
  };
}

/** Moves the server's clock forward by its step and waits until it says so. */
export async function advanceClock(server: ServerProcess, ms = 5000): Promise<void> {
  const seen = server.logs.filter((line) => line.msg === 'test clock advanced').length;
  server.child.kill('SIGUSR2');
  const until = Date.now() + ms;
  while (server.logs.filter((line) => line.msg === 'test clock advanced').length <= seen) {
    if (Date.now() > until) throw new Error('the server did not advance its clock');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A rig for the enclosing `describe`: started in `before`, closed (with every server process)
 * in `after`. Read it as `ctx.rig` inside the tests.
 */
export function usePushRig(env: Readonly<Record<string, string>> = {}): { rig: PushRig } {
  const ctx = {} as { rig: PushRig };
  beforeAll(async () => {
    ctx.rig = await startPushRig(env);
  });
  afterAll(async () => {
    await ctx.rig?.close();
    await stopAll();
  });
  return ctx;
}
