/**
 * The FCM end-to-end rig: the real server process sending FCM HTTP v1 pushes to an
 * `FcmTestServer` (which also mints its access tokens), with push-rig's fast windows.
 * Conditions are waited for (pushes arriving), never fixed times.
 */
import { afterAll, beforeAll } from 'vitest';
import { api } from './api-client.js';
import { FcmTestServer } from './fcm-test-server.js';
import { FAST_PUSH_ENV, PUSH_WAIT_MS } from './push-rig.js';
import { type ServerProcess, startServer, stopAll } from './server-process.js';

/** The settings pointing the server at `fcm`: its service-account key and its base URL. */
export function fcmEnv(fcm: FcmTestServer): Record<string, string> {
  return { BADGESYNC_FCM_SERVICE_ACCOUNT: fcm.keyPath, BADGESYNC_FCM_URL: fcm.baseUrl };
}

export interface FcmRig {
  readonly fcm: FcmTestServer;
  server: ServerProcess;
  close(): Promise<void>;
}

export async function startFcmRig(env: Readonly<Record<string, string>> = {}): Promise<FcmRig> {
  const fcm = await FcmTestServer.start();
  try {
    const server = await startServer({ env: { ...FAST_PUSH_ENV, ...fcmEnv(fcm), ...env } });
    const rig: FcmRig = {
      fcm,
      server,
      async close() {
        await rig.server.kill();
        await fcm.close();
      },
    };
    return rig;
  } catch (err) {
    await fcm.close();
    throw err;
  }
}

/** A rig for the enclosing `describe`, started before and closed after it. */
export function useFcmRig(env: Readonly<Record<string, string>> = {}): { rig: FcmRig } {
  const ctx = {} as { rig: FcmRig };
  beforeAll(async () => {
    ctx.rig = await startFcmRig(env);
  });
  afterAll(async () => {
    await ctx.rig?.close();
    await stopAll();
  });
  return ctx;
}

/** A well-formed FCM registration token derived from a name. */
export function fcmTokenFor(name: string): string {
  return `${Buffer.from(name).toString('base64url')}:APA91b${'Q'.repeat(140)}`;
}

/** PUT an FCM registration; answers the token registered (by default one derived from the device). */
export async function registerFcm(
  server: ServerProcess,
  account: string,
  device: string,
  token: string = fcmTokenFor(device),
): Promise<string> {
  const answer = await api(server, 'PUT', `/v1/accounts/${account}/devices/${device}`, {
    platform: 'fcm',
    fcmToken: token,
  });
  if (answer.status !== 200) throw new Error(`PUT device ${answer.status} ${JSON.stringify(answer.body)}`);
  return token;
}

/** Waits until the last badge FCM accepted for `token` is `badge`. */
export async function waitForFcmBadge(fcm: FcmTestServer, token: string, badge: number, ms = PUSH_WAIT_MS) {
  await fcm.waitFor(
    () => fcm.badgesFor(token).at(-1) === badge,
    ms,
    () => `badge ${badge} delivered to ${token.slice(0, 8)}… (so far: ${fcm.badgesFor(token).join(', ')})`,
  );
}

/** Waits until `token` has had `count` answered requests. */
export async function waitForFcmRequests(fcm: FcmTestServer, token: string, count: number, ms = PUSH_WAIT_MS) {
  await fcm.waitFor(
    () => fcm.requestsFor(token).filter((r) => r.status !== undefined).length >= count,
    ms,
    () => `${count} answered FCM requests for ${token.slice(0, 8)}… (got ${fcm.requestsFor(token).length})`,
  );
}
