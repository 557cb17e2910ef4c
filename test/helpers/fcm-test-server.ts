/**
 * A stand-in for FCM HTTP v1 and Google's OAuth token endpoint, over plain HTTP on 127.0.0.1
 * (port 0). Plain HTTP is enough: the FCM sender takes its base URL (BADGESYNC_FCM_URL) and
 * its token endpoint (the key's `token_uri`) from configuration, so no CA has to be trusted
 * and the sender can run in the test's own process.
 *
 * At start it makes a test service account (an RSA key pair, written as a service-account
 * key file whose `token_uri` points here). `POST /token` checks the JWT assertion as Google
 * does — RS256 signed by that key, `kid` = `private_key_id`, `iss` = `client_email`, `aud` =
 * Google's token URL, the FCM scope, `iat`/`exp` an hour apart at most — and mints an opaque
 * access token. `POST /v1/projects/{project}/messages:send` checks the bearer token (minted
 * here, not expired), the project, and the message's shape (data values are strings,
 * `android.priority`, `ttl`, no unknown fields), then answers as scripted per token (default
 * 200 with a message name).
 */
import { generateKeyPairSync, type KeyObject, randomBytes, verify as verifySignature } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_WAIT_MS, waitForCondition } from './test-server-kit.js';

/** What the assertion's `aud` must be: Google's token endpoint, whatever URL it is posted to. */
export const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
/** Google refuses an assertion valid for more than an hour. */
const MAX_ASSERTION_SECONDS = 3600;

/** One scripted answer: a status, FCM's error body for it, optional Retry-After, optional delay. */
export interface FcmAnswer {
  readonly status: number;
  /** FCM's `error.status` (gRPC code name) for a non-200. */
  readonly grpcStatus?: string;
  /** The FcmError detail's `errorCode`. */
  readonly errorCode?: string;
  readonly message?: string;
  /** A `google.rpc.BadRequest` field violation naming this field (`message.token`). */
  readonly field?: string;
  /** The Retry-After header, as sent. */
  readonly retryAfter?: string;
  readonly delayMs?: number;
}

/** FCM's answers, ready to script. */
export const FcmAnswers = {
  ok: { status: 200 },
  unregistered: {
    status: 404,
    grpcStatus: 'NOT_FOUND',
    errorCode: 'UNREGISTERED',
    message: 'Requested entity was not found.',
  },
  invalidToken: {
    status: 400,
    grpcStatus: 'INVALID_ARGUMENT',
    errorCode: 'INVALID_ARGUMENT',
    message: 'The registration token is not a valid FCM registration token',
    field: 'message.token',
  },
  senderIdMismatch: {
    status: 403,
    grpcStatus: 'PERMISSION_DENIED',
    errorCode: 'SENDER_ID_MISMATCH',
    message: 'SenderId mismatch',
  },
  quotaExceeded: (retryAfter?: string): FcmAnswer => ({
    status: 429,
    grpcStatus: 'RESOURCE_EXHAUSTED',
    errorCode: 'QUOTA_EXCEEDED',
    message: 'Quota exceeded for the device',
    ...(retryAfter === undefined ? {} : { retryAfter }),
  }),
  unavailable: (retryAfter?: string): FcmAnswer => ({
    status: 503,
    grpcStatus: 'UNAVAILABLE',
    errorCode: 'UNAVAILABLE',
    message: 'The service is currently unavailable.',
    ...(retryAfter === undefined ? {} : { retryAfter }),
  }),
  internal: { status: 500, grpcStatus: 'INTERNAL', errorCode: 'INTERNAL', message: 'Internal error' },
  /** The access token was revoked or expired early (FCM's 401). */
  unauthenticated: {
    status: 401,
    grpcStatus: 'UNAUTHENTICATED',
    message: 'Request had invalid authentication credentials.',
  },
  permissionDenied: {
    status: 403,
    grpcStatus: 'PERMISSION_DENIED',
    message: 'Permission cloudmessaging.messages.create denied',
  },
} as const satisfies Record<string, FcmAnswer | ((...args: never[]) => FcmAnswer)>;

/** A service-account key file's fields, as the Firebase console writes them. */
export interface TestServiceAccount {
  readonly type: 'service_account';
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly token_uri: string;
}

/** One messages:send request, as the server saw it, and what it answered. */
export interface FcmRequestRecord {
  /** The message's `token`, or '' when it had none. */
  readonly token: string;
  /** The whole request body, parsed (null when it was not JSON). */
  readonly body: unknown;
  readonly bearer: string | null;
  readonly project: string;
  /** When the server received it (ms). */
  readonly at: number;
  status?: number;
}

export class FcmTestServer {
  readonly host = '127.0.0.1';
  readonly port: number;
  /** The service-account key file (BADGESYNC_FCM_SERVICE_ACCOUNT); its token_uri points here. */
  readonly keyPath: string;
  readonly serviceAccount: TestServiceAccount;
  /** Every messages:send request, in arrival order (checked or not). */
  readonly requests: FcmRequestRecord[] = [];
  /** Every access token minted, in order. */
  readonly tokensMinted: string[] = [];
  /** Every token request, with what was wrong with it (null: a token was minted). */
  readonly tokenRequests: Array<{ readonly refused: string | null }> = [];
  /** How long minted access tokens live (s); Google's is 3600. */
  tokenLifetimeSeconds = 3600;

  readonly #server: http.Server;
  readonly #dir: string;
  readonly #publicKey: KeyObject;
  /** Minted tokens and when they expire (ms). */
  readonly #tokens = new Map<string, number>();
  readonly #queues = new Map<string, FcmAnswer[]>();
  readonly #always = new Map<string, FcmAnswer>();
  readonly #waiters = new Set<() => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #answerListeners = new Set<(request: FcmRequestRecord) => void>();
  #refuseTokens: string | null = null;

  private constructor(parts: {
    server: http.Server;
    port: number;
    dir: string;
    keyPath: string;
    serviceAccount: TestServiceAccount;
    publicKey: KeyObject;
  }) {
    this.#server = parts.server;
    this.port = parts.port;
    this.#dir = parts.dir;
    this.keyPath = parts.keyPath;
    this.serviceAccount = parts.serviceAccount;
    this.#publicKey = parts.publicKey;
  }

  static async start(options: { readonly projectId?: string } = {}): Promise<FcmTestServer> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const projectId = options.projectId ?? 'badgesync-test';
    const serviceAccount: TestServiceAccount = {
      type: 'service_account',
      project_id: projectId,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      client_email: `badgesync-push@${projectId}.iam.gserviceaccount.com`,
      client_id: '100000000000000000001',
      token_uri: `http://127.0.0.1:${port}/token`,
    };
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-fcm-'));
    const keyPath = path.join(dir, 'service-account.json');
    await writeFile(keyPath, JSON.stringify(serviceAccount, null, 2), { mode: 0o600 });
    const fake = new FcmTestServer({ server, port, dir, keyPath, serviceAccount, publicKey });
    server.on('request', (req, res) => fake.#onRequest(req, res));
    return fake;
  }

  /** BADGESYNC_FCM_URL. */
  get baseUrl(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Answers the next requests for `token` with these, in order; then the default again. */
  enqueue(token: string, ...answers: FcmAnswer[]): void {
    const queue = this.#queues.get(token) ?? [];
    queue.push(...answers);
    this.#queues.set(token, queue);
  }

  /** Answers every request for `token` with this (after any queued answers). */
  answerAlways(token: string, answer: FcmAnswer): void {
    this.#always.set(token, answer);
  }

  resetAnswers(): void {
    this.#queues.clear();
    this.#always.clear();
  }

  /** Every access token minted so far stops working (401), as when Google revokes them. */
  expireTokens(): void {
    for (const token of this.#tokens.keys()) this.#tokens.set(token, 0);
  }

  /** The token endpoint refuses every assertion with `invalid_grant` (null: accepts again). */
  refuseTokens(description: string | null): void {
    this.#refuseTokens = description;
  }

  requestsFor(token: string): FcmRequestRecord[] {
    return this.requests.filter((request) => request.token === token);
  }

  /** The badges pushed to `token` and accepted (200), in order. */
  badgesFor(token: string): number[] {
    return this.requestsFor(token)
      .filter((request) => request.status === 200)
      .map((request) => Number((request.body as { message: { data: { badge: string } } }).message.data.badge));
  }

  waitForRequests(count: number, timeoutMs: number = DEFAULT_WAIT_MS): Promise<FcmRequestRecord[]> {
    return this.waitFor(
      () => this.requests.filter((r) => r.status !== undefined).length >= count,
      timeoutMs,
      () => `${count} answered FCM requests (got ${this.requests.length})`,
    ).then(() => this.requests.slice(0, count));
  }

  /** Resolves once `condition()` holds, checked after every request is answered. */
  waitFor(condition: () => boolean, timeoutMs: number = DEFAULT_WAIT_MS, what = () => 'a condition'): Promise<void> {
    return waitForCondition(this.#waiters, 'test FCM server', condition, timeoutMs, what);
  }

  /** Calls `listener` with every messages:send request once it is answered; returns the unsubscribe. */
  onAnswer(listener: (request: FcmRequestRecord) => void): () => void {
    this.#answerListeners.add(listener);
    return () => this.#answerListeners.delete(listener);
  }

  async close(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await rm(this.#dir, { recursive: true, force: true });
  }

  #onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', this.baseUrl);
      if (req.method === 'POST' && url.pathname === '/token') return this.#token(req, body, res);
      const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(url.pathname);
      if (req.method === 'POST' && send !== null) return this.#send(req, decodeURIComponent(send[1] ?? ''), body, res);
      json(res, 404, { error: { code: 404, status: 'NOT_FOUND', message: 'no such route' } });
    });
  }

  #token(req: http.IncomingMessage, body: string, res: http.ServerResponse): void {
    const refused = this.#refuseTokens ?? this.#checkTokenRequest(req, body);
    this.tokenRequests.push({ refused });
    if (refused !== null) {
      json(res, 400, { error: 'invalid_grant', error_description: refused });
      return;
    }
    const token = `ya29.test-${randomBytes(24).toString('base64url')}`;
    this.#tokens.set(token, Date.now() + this.tokenLifetimeSeconds * 1000);
    this.tokensMinted.push(token);
    json(res, 200, { access_token: token, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer' });
  }

  /** What is wrong with a token request, as Google would say it; null when it is right. */
  #checkTokenRequest(req: http.IncomingMessage, body: string): string | null {
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
      return 'not a form post';
    }
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return 'wrong grant_type';
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return 'the assertion is not a JWT';
    const [head = '', claimsPart = '', signature = ''] = parts;
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(head, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(claimsPart, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return 'the assertion does not decode';
    }
    if (header.alg !== 'RS256') return `alg ${String(header.alg)}, not RS256`;
    if (header.kid !== undefined && header.kid !== this.serviceAccount.private_key_id) return 'unknown kid';
    const signed = verifySignature(
      'RSA-SHA256',
      Buffer.from(`${head}.${claimsPart}`),
      this.#publicKey,
      Buffer.from(signature, 'base64url'),
    );
    if (!signed) return 'Invalid JWT Signature.';
    if (claims.iss !== this.serviceAccount.client_email) return `iss ${String(claims.iss)} is not the service account`;
    if (claims.aud !== GOOGLE_TOKEN_AUDIENCE) return `aud ${String(claims.aud)}`;
    const scopes = String(claims.scope ?? '').split(' ');
    if (!scopes.includes(FCM_SCOPE)) return 'the FCM scope is missing';
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!Number.isInteger(iat) || !Number.isInteger(exp)) return 'iat and exp must be integers';
    if (exp <= now || iat > now + 60) return 'the assertion is not valid now';
    if (exp - iat > MAX_ASSERTION_SECONDS) return 'the assertion lives longer than an hour';
    return null;
  }

  #send(req: http.IncomingMessage, project: string, body: string, res: http.ServerResponse): void {
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = null;
    }
    const message = (parsed as { message?: { token?: unknown } } | null)?.message;
    const auth = req.headers.authorization ?? '';
    const record: FcmRequestRecord = {
      token: typeof message?.token === 'string' ? message.token : '',
      body: parsed,
      bearer: auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null,
      project,
      at: Date.now(),
    };
    this.requests.push(record);
    const expires = record.bearer === null ? undefined : this.#tokens.get(record.bearer);
    if (expires === undefined || expires <= Date.now()) return this.#answer(res, record, FcmAnswers.unauthenticated);
    if (project !== this.serviceAccount.project_id) return this.#answer(res, record, FcmAnswers.permissionDenied);
    const wrong = checkMessage(parsed);
    if (wrong !== null) {
      return this.#answer(res, record, {
        status: 400,
        grpcStatus: 'INVALID_ARGUMENT',
        errorCode: 'INVALID_ARGUMENT',
        message: wrong.message,
        field: wrong.field,
      });
    }
    this.#answer(res, record, this.#scripted(record.token));
  }

  #scripted(token: string): FcmAnswer {
    const queue = this.#queues.get(token);
    const next = queue?.shift();
    if (next !== undefined) return next;
    return this.#always.get(token) ?? FcmAnswers.ok;
  }

  #answer(res: http.ServerResponse, record: FcmRequestRecord, answer: FcmAnswer): void {
    const finish = () => {
      record.status = answer.status;
      if (answer.status === 200) {
        json(res, 200, { name: `projects/${record.project}/messages/${randomBytes(8).toString('hex')}` });
      } else {
        const details: unknown[] = [];
        if (answer.errorCode !== undefined) {
          details.push({ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: answer.errorCode });
        }
        if (answer.field !== undefined) {
          details.push({
            '@type': 'type.googleapis.com/google.rpc.BadRequest',
            fieldViolations: [{ field: answer.field, description: answer.message ?? '' }],
          });
        }
        json(
          res,
          answer.status,
          { error: { code: answer.status, message: answer.message ?? '', status: answer.grpcStatus, details } },
          answer.retryAfter === undefined ? {} : { 'retry-after': answer.retryAfter },
        );
      }
      for (const listener of [...this.#answerListeners]) listener(record);
      for (const waiter of [...this.#waiters]) waiter();
    };
    if (answer.delayMs === undefined) return finish();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      finish();
    }, answer.delayMs);
    this.#timers.add(timer);
  }
}

const MESSAGE_FIELDS: ReadonlySet<string> = new Set(['token', 'data', 'notification', 'android', 'fcm_options']);
const ANDROID_FIELDS: ReadonlySet<string> = new Set([
  'collapse_key',
  'priority',
  'ttl',
  'restricted_package_name',
  'data',
  'notification',
  'fcm_options',
  'direct_boot_ok',
]);

/** What FCM would refuse in a message (INVALID_ARGUMENT), with the field; null when it is well-formed. */
function checkMessage(body: unknown): { field: string; message: string } | null {
  const message = (body as { message?: Record<string, unknown> } | null)?.message;
  if (typeof message !== 'object' || message === null) return { field: 'message', message: 'message is required' };
  for (const key of Object.keys(message)) {
    if (!MESSAGE_FIELDS.has(key)) return { field: `message.${key}`, message: `Unknown name "${key}"` };
  }
  if (typeof message.token !== 'string' || message.token === '') {
    return { field: 'message.token', message: 'The registration token is not a valid FCM registration token' };
  }
  if (message.data !== undefined) {
    if (typeof message.data !== 'object' || message.data === null)
      return { field: 'message.data', message: 'not a map' };
    for (const [key, value] of Object.entries(message.data)) {
      if (typeof value !== 'string') return { field: `message.data[${key}]`, message: 'data values must be strings' };
    }
  }
  const android = message.android as Record<string, unknown> | undefined;
  if (android !== undefined) {
    for (const key of Object.keys(android)) {
      if (!ANDROID_FIELDS.has(key)) return { field: `message.android.${key}`, message: `Unknown name "${key}"` };
    }
    if (android.priority !== undefined && android.priority !== 'NORMAL' && android.priority !== 'HIGH') {
      return { field: 'message.android.priority', message: 'Invalid value' };
    }
    if (android.ttl !== undefined && (typeof android.ttl !== 'string' || !/^\d+(\.\d{1,9})?s$/.test(android.ttl))) {
      return { field: 'message.android.ttl', message: 'Invalid duration' };
    }
    const notification = android.notification as Record<string, unknown> | undefined;
    if (
      notification?.notification_count !== undefined &&
      (!Number.isInteger(notification.notification_count) || Number(notification.notification_count) < 0)
    ) {
      return { field: 'message.android.notification.notification_count', message: 'Invalid value' };
    }
  }
  return null;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(text);
}
