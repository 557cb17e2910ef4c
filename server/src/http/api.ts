import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AccountId,
  type DeviceId,
  EMPTY_COUNTS,
  isAccountId,
  isDeviceId,
  MAX_SEQ,
  planRead,
  SERVER_DEVICE,
  type ThreadId,
} from '@badgesync/shared';
import type { Logger } from 'pino';
import { bearer, isApiKey } from '../auth/api-key.js';
import { isRevoked, verifyDeviceToken } from '../auth/device-token.js';
import type { Metrics } from '../metrics.js';
import type { DeviceHooks } from '../push/ports.js';
import { DEFAULT_WEBPUSH_HOSTS, endpointAllowed } from '../push/webpush-subscription.js';
import type { AccountRoom } from '../rooms/account-room.js';
import { type ExactWrites, writeExactly } from '../rooms/exact-writes.js';
import type { GroupCommit } from '../rooms/group-commit.js';
import { RoomCapacityError, type RoomManager } from '../rooms/room-manager.js';
import { PushPlatform, platformOf, tokenOf } from '../store/push-address.js';
import type { DevicePatch, Registration, Store } from '../store/store.js';
import { corsResponseHeaders, preflight } from './cors.js';
import { ApiError, ClientAbort, readJson, sendError, sendJson } from './respond.js';
import { DeviceBody, ItemsBody, parseBody, ReadBody } from './schemas.js';
import { decodeId } from './target.js';

/** How long an idempotency key is remembered, per the contract: 24 hours. */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export interface ApiDeps {
  readonly apiKey: string;
  readonly deviceSecret: string;
  readonly store: Store;
  readonly rooms: RoomManager;
  readonly commit: GroupCommit;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly devices: DeviceHooks;
  readonly revoke: (account: AccountId, device: DeviceId) => void;
  readonly isShuttingDown: () => boolean;
  /** Threads with a head one account may have (SPEC BUDGET-7). */
  readonly maxThreads: number;
  /** [API-9] The APNs topics a registration may name; null: any (no topic configured, local use). */
  readonly allowedTopics: ReadonlySet<string> | null;
  /** [API-10] The web origins whose pages may call the device routes (exact, lowercase). */
  readonly allowedOrigins: ReadonlySet<string>;
  /** [PUSH-22] Host patterns a Web Push endpoint may name; the browsers' push services when absent. */
  readonly webpushHosts?: readonly string[];
  /**
   * Cluster mode (docs/CLUSTER.md "Exact ingest and counts"): ingests and API reads are made
   * in the account's exclusive transaction (SPEC STORE-26, STORE-28) instead of the group commit.
   */
  readonly exact?: ExactWrites;
}

type Who =
  | { readonly kind: 'backend' }
  | { readonly kind: 'device'; readonly account: AccountId; readonly device: DeviceId };

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly name: string;
  /** Whether a device token for (account, device) of the path may call it. */
  readonly deviceMayCall: boolean;
  readonly handle: (ctx: RouteContext) => Promise<unknown>;
}

interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly account: AccountId;
  readonly device: DeviceId | null;
}

/**
 * The backend API (SPEC API-1..API-8): JSON over HTTP, `Authorization: Bearer <api key>`;
 * the device routes also take that device's own token.
 */
export class Api {
  readonly #routes: readonly Route[];
  /** Idempotency answers being written: a repeat that arrives meanwhile waits for the first. */
  readonly #inFlight = new Map<string, Promise<unknown>>();
  /**
   * The registration call in progress per (account, device): a PUT or DELETE waits for the one
   * before it, so each reads the registration the previous one left (its `fresh` is right).
   */
  readonly #registering = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: ApiDeps) {
    const account = '([^/]+)';
    this.#routes = [
      {
        method: 'POST',
        pattern: re(`/v1/accounts/${account}/items`),
        name: 'items',
        deviceMayCall: false,
        handle: (c) => this.#items(c),
      },
      {
        method: 'POST',
        pattern: re(`/v1/accounts/${account}/read`),
        name: 'read',
        deviceMayCall: false,
        handle: (c) => this.#read(c),
      },
      {
        method: 'GET',
        pattern: re(`/v1/accounts/${account}/badge`),
        name: 'badge',
        deviceMayCall: false,
        handle: (c) => this.#badge(c),
      },
      {
        method: 'PUT',
        pattern: re(`/v1/accounts/${account}/devices/${account}`),
        name: 'device_put',
        deviceMayCall: true,
        handle: (c) => this.#putDevice(c),
      },
      {
        method: 'DELETE',
        pattern: re(`/v1/accounts/${account}/devices/${account}`),
        name: 'device_delete',
        deviceMayCall: true,
        handle: (c) => this.#deleteDevice(c),
      },
    ];
  }

  /**
   * Answers a request; false when no route of this API matches the path. `path` is the raw
   * (percent-encoded) path of the request target; `routed` learns the route's name for logs.
   */
  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    routed: (route: string) => void = () => {},
  ): Promise<boolean> {
    const candidates = this.#routes.filter((r) => r.pattern.test(path));
    if (candidates.length === 0) return false;
    const deviceMethods = candidates.filter((r) => r.deviceMayCall).map((r) => r.method);
    if (req.method === 'OPTIONS' && deviceMethods.length > 0) {
      routed('device_preflight');
      this.#preflight(req, res, deviceMethods);
      return true;
    }
    // [API-10] Only the routes a device token may call answer a browser origin.
    const cors = deviceMethods.length > 0 ? corsResponseHeaders(req, this.deps.allowedOrigins) : {};
    const route = candidates.find((r) => r.method === req.method);
    const name = route?.name ?? 'unknown_method';
    routed(name);
    let status = 200;
    try {
      if (route === undefined) throw new ApiError('method_not_allowed');
      if (this.deps.isShuttingDown()) throw new ApiError('shutting_down');
      const match = route.pattern.exec(path) as RegExpExecArray;
      // [EDGE-2] A bad escape (`%zz`, `%`, overlong UTF-8) is an invalid ID, never a throw.
      const account = decodeId(match[1] as string);
      const device = match[2] === undefined ? null : decodeId(match[2]);
      if (account === null || !isAccountId(account)) throw new ApiError('invalid_id');
      if (match[2] !== undefined && !isDeviceId(device)) throw new ApiError('invalid_id');
      const who = await this.#authenticate(req);
      if (who.kind === 'device' && !(route.deviceMayCall && who.account === account && who.device === device)) {
        throw new ApiError('forbidden', 'a device token may only register or sign out its own device');
      }
      const body = await route.handle({ req, res, account, device: device as DeviceId | null });
      sendJson(res, status, body, cors);
    } catch (err) {
      let apiError: ApiError;
      if (err instanceof ClientAbort || (!(err instanceof ApiError) && clientAborted(req))) {
        // [EDGE-1] A client that hangs up mid-request (a body shorter than its Content-Length,
        // then FIN or a reset) is not a server error, whatever the read threw: counted, logged
        // below error level, and answered 400 if its socket still takes an answer.
        this.deps.metrics.httpClientAborts.inc({ route: name });
        this.deps.log.debug({ route: name, detail: (err as Error).message }, 'client aborted the request');
        apiError = err instanceof ClientAbort ? err : new ClientAbort();
      } else apiError = toApiError(err, this.deps.log, name);
      status = apiError.status;
      if (!res.headersSent) sendError(res, apiError, cors);
    }
    this.deps.metrics.httpRequests.inc({ route: name, status: String(status) });
    return true;
  }

  /**
   * [API-11] OPTIONS on a device route: a preflight from an allowed origin for its methods and
   * headers is answered 204 with the CORS headers; any other preflight is `403 forbidden`
   * without them; an OPTIONS that is no preflight learns the methods in `Allow`.
   */
  #preflight(req: IncomingMessage, res: ServerResponse, methods: readonly string[]): void {
    const answer = preflight(req, methods, this.deps.allowedOrigins);
    let status = 204;
    if (answer.kind === 'refused') {
      const refusal = new ApiError('forbidden', answer.why);
      status = refusal.status;
      sendError(res, refusal, { vary: 'Origin' });
    } else {
      const headers = answer.kind === 'allowed' ? answer.headers : { allow: [...methods, 'OPTIONS'].join(', ') };
      res.writeHead(status, headers);
      res.end();
    }
    this.deps.metrics.httpRequests.inc({ route: 'device_preflight', status: String(status) });
  }

  async #authenticate(req: IncomingMessage): Promise<Who> {
    const presented = bearer(req.headers.authorization);
    if (presented === null) throw new ApiError('unauthorized', 'send Authorization: Bearer <api key>');
    if (isApiKey(presented, this.deps.apiKey)) return { kind: 'backend' };
    const check = await verifyDeviceToken(presented, this.deps.deviceSecret);
    if (!check.ok) throw new ApiError('unauthorized');
    if (isRevoked(check.claims, await this.deps.store.revokedAt(check.claims.account, check.claims.device))) {
      throw new ApiError('unauthorized', 'the device was signed out after this token was issued');
    }
    return { kind: 'device', account: check.claims.account, device: check.claims.device };
  }

  async #items({ req, account }: RouteContext): Promise<unknown> {
    const stop = this.deps.metrics.ingestSeconds.startTimer();
    const body = validated(ItemsBody, await readJson(req));
    const key = body.idempotencyKey;
    if (key === undefined) {
      const answer = await this.#addItems(account, body.thread as ThreadId, body.count ?? 1, null);
      stop();
      return answer;
    }
    const slot = `${account}\u0000${key}`;
    const running = this.#inFlight.get(slot);
    if (running !== undefined) return running;
    let fresh = false;
    // In flight from before the lookup: a repeat arriving while the store answers waits for
    // this one instead of looking up (and applying) on its own.
    const work = (async () => {
      const stored = await this.deps.store.getIdempotent(account, key, Date.now() - IDEMPOTENCY_WINDOW_MS);
      if (stored !== null) return JSON.parse(stored) as unknown;
      fresh = true;
      return this.#addItems(account, body.thread as ThreadId, body.count ?? 1, key);
    })();
    this.#inFlight.set(slot, work);
    try {
      const answer = await work;
      if (fresh) stop();
      return answer;
    } finally {
      this.#inFlight.delete(slot);
    }
  }

  /** [API-2] Bumps the thread's head in `v2/heads` as the server's own peer; answers once it is on disk. */
  async #addItems(account: AccountId, thread: ThreadId, count: number, key: string | null): Promise<unknown> {
    const room = await this.#room(account);
    const exact = this.deps.exact;
    if (exact !== undefined) {
      return room.hold(async () => {
        // [STORE-26] The head from a replica holding the whole log, under the account's lock;
        // [STORE-28] the key's answer in the same transaction, or the answer stored first.
        const idempotency = key === null ? null : { key, notBefore: Date.now() - IDEMPOTENCY_WINDOW_MS };
        const result = await writeExactly(exact, room, idempotency, () => {
          const head = this.#nextHead(room, thread, count);
          return {
            write: ({ heads }) => heads.set(thread, head),
            answer: () => ({ thread, head, badge: room.tracker.badge }),
          };
        });
        // Counts left to the group commit (other writes of the room were waiting) are on disk too.
        await this.deps.commit.flushed();
        return result.kind === 'stored' ? (JSON.parse(result.response) as unknown) : result.answer;
      });
    }
    return room.hold(async () => {
      const head = this.#nextHead(room, thread, count);
      room.serverWrite(({ heads }) => heads.set(thread, head));
      const answer = { thread, head, badge: room.tracker.badge };
      if (key !== null) this.deps.commit.addIdempotency(account, key, JSON.stringify(answer), Date.now());
      await this.deps.commit.flushed();
      return answer;
    });
  }

  /** The head `count` items after the thread's, within the budgets (BUDGET-7, MAX_SEQ); throws an ApiError otherwise. */
  #nextHead(room: AccountRoom, thread: ThreadId, count: number): number {
    const before = room.tracker.head(thread);
    if (before === 0 && room.tracker.threadCount >= this.deps.maxThreads) {
      this.deps.metrics.budgetRefusals.inc({ budget: 'threadsPerAccount' });
      throw new ApiError(
        'budget_exceeded',
        `the account has ${room.tracker.threadCount} threads with items, its budget (BADGESYNC_MAX_THREADS)`,
      );
    }
    const head = before + count;
    if (head > MAX_SEQ) throw new ApiError('invalid_body', `the head of ${thread} would pass ${MAX_SEQ}`);
    return head;
  }

  /** [API-3] A read made outside any device, written into `v2/device/@server`. */
  async #read({ req, account }: RouteContext): Promise<unknown> {
    const body = validated(ReadBody, await readJson(req));
    const thread = body.thread as ThreadId;
    const room = await this.#room(account);
    const exact = this.deps.exact;
    if (exact !== undefined) {
      return room.hold(async () => {
        // [STORE-26] Planned on a replica holding the whole log, under the account's lock.
        const result = await writeExactly(exact, room, null, () => {
          const value = planRead(room.tracker, thread, SERVER_DEVICE, body.seq);
          return {
            write: value === null ? null : ({ reads }) => reads.set(thread, value),
            answer: () => ({ badge: room.tracker.badge }),
          };
        });
        await this.deps.commit.flushed();
        return result.kind === 'written' ? result.answer : (JSON.parse(result.response) as unknown);
      });
    }
    return room.hold(async () => {
      const value = planRead(room.tracker, thread, SERVER_DEVICE, body.seq);
      if (value !== null) room.serverWrite(({ reads }) => reads.set(thread, value));
      await this.deps.commit.flushed();
      return { badge: room.tracker.badge };
    });
  }

  /** [API-4] Stored counts: no document is loaded; an unknown account is all zeros. */
  async #badge({ account }: RouteContext): Promise<unknown> {
    await this.deps.commit.flushed();
    const counts = (await this.deps.store.getCounts(account)) ?? EMPTY_COUNTS;
    return { badge: counts.badge, threads: counts.threads, muted: counts.muted };
  }

  /**
   * [API-5] Registers or updates the device's registration in this account and signs it in;
   * [STORE-14] the device's registrations in other accounts stay as they are.
   */
  async #putDevice({ req, account, device }: RouteContext): Promise<unknown> {
    const body = validated(DeviceBody, await readJson(req));
    const allowed = this.deps.allowedTopics;
    if (body.platform === 'apns' && body.topic !== undefined && allowed !== null && !allowed.has(body.topic)) {
      throw new ApiError('topic_not_allowed', `topic ${body.topic} is not one this server pushes to`);
    }
    // [PUSH-22] A subscription on a host the server will not post to is refused now, not
    // found out at its first push.
    if (
      body.platform === 'webpush' &&
      !endpointAllowed(body.subscription.endpoint, this.deps.webpushHosts ?? DEFAULT_WEBPUSH_HOSTS)
    ) {
      throw new ApiError(
        'endpoint_not_allowed',
        `push service ${hostOf(body.subscription.endpoint)} is not in BADGESYNC_WEBPUSH_HOSTS`,
      );
    }
    const patch = devicePatch(body);
    return this.#oneAtATime(account, device as DeviceId, async () => {
      // [API-5] The answer reflects every write made before the request — a refusal of the
      // token that push recorded a moment ago included — so what is durable is what it shows.
      await this.deps.commit.flushed();
      const before = await this.deps.store.getRegistration(account, device as DeviceId);
      const record = await this.deps.store.putDevice(account, device as DeviceId, patch, Date.now());
      const fresh =
        record.address !== null &&
        (before === null ||
          before.address !== record.address ||
          before.tokenInvalidReason !== null ||
          (!before.badges && record.badges));
      this.deps.devices.deviceRegistered(account, device as DeviceId, fresh, before?.address ?? null);
      return publicDevice(record);
    });
  }

  /** [API-6] Signs the device out of the account and closes its connections to it (4401). */
  async #deleteDevice({ account, device }: RouteContext): Promise<unknown> {
    return this.#oneAtATime(account, device as DeviceId, async () => {
      const signedOut = await this.deps.store.signOut(account, device as DeviceId, Date.now());
      this.deps.revoke(account, device as DeviceId);
      if (signedOut) this.deps.devices.deviceSignedOut(account, device as DeviceId);
      return { signedOut };
    });
  }

  /** Runs `work` after the registration calls of (account, device) before it have settled. */
  async #oneAtATime<T>(account: AccountId, device: DeviceId, work: () => Promise<T>): Promise<T> {
    const slot = `${account}\u0000${device}`;
    const before = this.#registering.get(slot) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.then(
      () => {},
      () => {},
    );
    this.#registering.set(slot, settled);
    try {
      return await mine;
    } finally {
      if (this.#registering.get(slot) === settled) this.#registering.delete(slot);
    }
  }

  async #room(account: AccountId) {
    try {
      return await this.deps.rooms.acquire(account);
    } catch (err) {
      if (err instanceof RoomCapacityError) throw new ApiError('overloaded');
      if (this.deps.isShuttingDown()) throw new ApiError('shutting_down');
      throw err;
    }
  }
}

function re(path: string): RegExp {
  return new RegExp(`^${path}/?$`);
}

function validated<T>(schema: Parameters<typeof parseBody<T>>[0], body: unknown): T {
  const parsed = parseBody(schema, body);
  if (!parsed.ok) throw new ApiError('invalid_body', parsed.message);
  return parsed.value;
}

/** The store's patch for a validated body: one platform's address, and the fields it names. */
function devicePatch(body: DeviceBody): DevicePatch {
  const badges = body.badges === undefined ? {} : { badges: body.badges };
  switch (body.platform) {
    case 'fcm':
      return { fcmToken: body.fcmToken, ...badges };
    case 'webpush': {
      const { endpoint, keys } = body.subscription;
      return { webpush: { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } }, ...badges };
    }
    case 'apns':
      return {
        ...(body.apnsToken === undefined ? {} : { apnsToken: body.apnsToken.toLowerCase() }),
        ...(body.environment === undefined ? {} : { environment: body.environment }),
        ...(body.topic === undefined ? {} : { topic: body.topic }),
        ...badges,
      };
  }
}

/**
 * The contract's answer to PUT: the fields of v1 (`apnsToken` is null unless the address is
 * an APNs token), the platform (null: no address yet) and the FCM token or Web Push endpoint
 * (API-14). A subscription's keys are never echoed.
 */
function publicDevice(record: Registration): unknown {
  const platform = record.address === null ? null : platformOf(record.address);
  const token = record.address === null ? null : tokenOf(record.address);
  return {
    device: record.device,
    platform,
    apnsToken: platform === PushPlatform.apns ? token : null,
    ...(platform === PushPlatform.fcm ? { fcmToken: token } : {}),
    ...(platform === PushPlatform.webpush ? { endpoint: token } : {}),
    environment: record.environment,
    topic: record.topic,
    badges: record.badges,
    tokenInvalidReason: record.tokenInvalidReason,
  };
}

/** Whether the request was cut short before it arrived whole (Node marks it aborted). */
function clientAborted(req: IncomingMessage): boolean {
  return req.aborted || (req.destroyed && !req.complete);
}

/** [EDGE-1] An unexpected throw is logged once, with the route's name (never the URL: its query may hold a token). */
function toApiError(err: unknown, log: Logger, route: string): ApiError {
  if (err instanceof ApiError) return err;
  log.error({ err, route }, 'request failed');
  return new ApiError('internal');
}

/** An endpoint's host, for an error message (the path is the subscription's capability). */
function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return '(not a URL)';
  }
}
