/**
 * A stand-in for APNs: HTTP/2 over TLS on 127.0.0.1, a private CA made at start, an ES256
 * provider key, and Apple's checks and answers for `POST /3/device/<token>`. Tests script
 * per-token answers, read every request back, and count HTTP/2 sessions.
 *
 * What it checks, in Apple's order: method, path, provider token (ES256, `kid`, `iss`, `iat`
 * under an hour old), `apns-topic`, `apns-push-type`, optional `apns-priority`,
 * `apns-expiration`, `apns-collapse-id`, payload, then the token's format. Only a request
 * that passes all of them gets a scripted answer (default 200).
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomUUID, verify as verifySignature } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_WAIT_MS, waitForCondition } from './test-server-kit.js';

const run = promisify(execFile);

/** APNs refuses a provider token whose `iat` is older than one hour. */
export const APNS_TOKEN_MAX_AGE_SECONDS = 3600;
/** APNs's payload limit for regular pushes (413 PayloadTooLarge above it). */
export const APNS_MAX_PAYLOAD_BYTES = 4096;
/** APNs's `apns-collapse-id` limit (400 BadCollapseId above it). */
export const APNS_MAX_COLLAPSE_ID_BYTES = 64;
/** Certificates live for a week: enough for any test run or demo, short enough to be obviously throwaway. */
const CERT_DAYS = 7;

const PUSH_TYPES: ReadonlySet<string> = new Set([
  'alert',
  'background',
  'voip',
  'complication',
  'fileprovider',
  'mdm',
  'liveactivity',
  'location',
  'pushtotalk',
  'widgets',
]);

/** One scripted answer. `status` 200 sends no body; any other status sends `{ reason, timestamp? }`. */
export interface ApnsAnswer {
  readonly status: number;
  readonly reason?: string;
  /** 410 only: ms since the epoch since when the token is invalid. */
  readonly timestamp?: number;
  /** Wait this long before answering (the client may time out and reset the stream first). */
  readonly delayMs?: number;
}

/** Apple's answers, ready to script. */
export const ApnsAnswers = {
  ok: { status: 200 },
  unregistered: (timestamp: number = Date.now()): ApnsAnswer => ({ status: 410, reason: 'Unregistered', timestamp }),
  badDeviceToken: { status: 400, reason: 'BadDeviceToken' },
  deviceTokenNotForTopic: { status: 400, reason: 'DeviceTokenNotForTopic' },
  payloadTooLarge: { status: 413, reason: 'PayloadTooLarge' },
  tooManyRequests: { status: 429, reason: 'TooManyRequests' },
  tooManyProviderTokenUpdates: { status: 429, reason: 'TooManyProviderTokenUpdates' },
  internalServerError: { status: 500, reason: 'InternalServerError' },
  serviceUnavailable: { status: 503, reason: 'ServiceUnavailable' },
  expiredProviderToken: { status: 403, reason: 'ExpiredProviderToken' },
  invalidProviderToken: { status: 403, reason: 'InvalidProviderToken' },
  slow: (delayMs: number, answer: ApnsAnswer = { status: 200 }): ApnsAnswer => ({ ...answer, delayMs }),
} as const satisfies Record<string, ApnsAnswer | ((...args: never[]) => ApnsAnswer)>;

/** The decoded provider token of a request, when it had one that parsed. */
export interface ApnsJwt {
  readonly raw: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** One request as the server saw it, and what it answered. */
export interface ApnsRequestRecord {
  /** The device token from the path ('' when the path had none). */
  readonly deviceToken: string;
  readonly method: string;
  readonly path: string;
  /** Lower-case names; pseudo-headers left out. */
  readonly headers: Readonly<Record<string, string>>;
  readonly jwt: ApnsJwt | null;
  readonly body: string;
  /** `JSON.parse(body)`, or undefined when the body is not JSON. */
  readonly payload: unknown;
  /** ms since the epoch. */
  readonly receivedAt: number;
  /** Which HTTP/2 session (connection) carried it: 1, 2, … in order of connection. */
  readonly session: number;
  /** Set once answered; `cancelled` when the client reset the stream before the answer. */
  answer: (ApnsAnswer & { readonly apnsId: string }) | { readonly cancelled: true } | null;
}

export interface ApnsTestServerOptions {
  /** 10 characters like Apple's; default `TESTKEY001`. */
  readonly keyId?: string;
  /** 10 characters like Apple's; default `TESTTEAM01`. */
  readonly teamId?: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

type AnswerRule = (request: ApnsRequestRecord) => ApnsAnswer | undefined;

export class ApnsTestServer {
  readonly keyId: string;
  readonly teamId: string;
  /** Always 127.0.0.1 (the certificate also names localhost). */
  readonly host = '127.0.0.1';
  readonly port: number;
  /** PEM of the CA that signed the server certificate: NODE_EXTRA_CA_CERTS of a client process. */
  readonly caPath: string;
  /** The provider key as Apple's .p8 file (PKCS#8 PEM): BADGESYNC_APNS_KEY_FILE. */
  readonly keyPath: string;
  /** Every request, in arrival order. */
  readonly requests: ApnsRequestRecord[] = [];

  readonly #server: http2.Http2SecureServer;
  readonly #dir: string;
  readonly #publicKey: KeyObject;
  readonly #queues = new Map<string, ApnsAnswer[]>();
  readonly #always = new Map<string, ApnsAnswer>();
  #rule: AnswerRule | null = null;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  #sessionsOpened = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #waiters = new Set<() => void>();
  readonly #answerListeners = new Set<(request: ApnsRequestRecord) => void>();
  #closed = false;

  private constructor(parts: {
    server: http2.Http2SecureServer;
    dir: string;
    publicKey: KeyObject;
    keyId: string;
    teamId: string;
  }) {
    this.#server = parts.server;
    this.#dir = parts.dir;
    this.#publicKey = parts.publicKey;
    this.keyId = parts.keyId;
    this.teamId = parts.teamId;
    this.caPath = path.join(parts.dir, 'ca.pem');
    this.keyPath = path.join(parts.dir, `AuthKey_${parts.keyId}.p8`);
    this.port = (parts.server.address() as AddressInfo).port;
    parts.server.on('session', (session) => this.#onSession(session));
    parts.server.on('stream', (stream, headers) => this.#onStream(stream, headers));
  }

  /** Makes the CA, server certificate and provider key in a temp dir, then listens. */
  static async start(options: ApnsTestServerOptions = {}): Promise<ApnsTestServer> {
    const keyId = options.keyId ?? 'TESTKEY001';
    const teamId = options.teamId ?? 'TESTTEAM01';
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-apns-'));
    try {
      const tls = await makeCertificates(dir);
      const provider = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      await writeFile(
        path.join(dir, `AuthKey_${keyId}.p8`),
        provider.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        { mode: 0o600 },
      );
      const server = http2.createSecureServer({ key: tls.key, cert: tls.cert, allowHTTP1: false });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port ?? 0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return new ApnsTestServer({ server, dir, publicKey: provider.publicKey, keyId, teamId });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** `127.0.0.1:<port>`: the value for BADGESYNC_APNS_HOST. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** HTTP/2 sessions (client connections) accepted since start. */
  get sessionsOpened(): number {
    return this.#sessionsOpened;
  }

  /** Sessions open right now. */
  get sessionsOpen(): number {
    return this.#sessions.size;
  }

  /** Answers for `deviceToken`'s next requests, one each, in order; then the usual answer again. */
  enqueue(deviceToken: string, ...answers: ApnsAnswer[]): void {
    const queue = this.#queues.get(deviceToken) ?? [];
    queue.push(...answers);
    this.#queues.set(deviceToken, queue);
  }

  /** The answer for every request to `deviceToken` once its queue is empty. */
  answerAlways(deviceToken: string, answer: ApnsAnswer): void {
    this.#always.set(deviceToken, answer);
  }

  /** A rule consulted after a token's queue and `answerAlways`; undefined falls through to 200. */
  setRule(rule: AnswerRule | null): void {
    this.#rule = rule;
  }

  /** Forgets queues, per-token answers and the rule (not the recorded requests). */
  resetAnswers(): void {
    this.#queues.clear();
    this.#always.clear();
    this.#rule = null;
  }

  /** Requests for one device token. */
  requestsFor(deviceToken: string): ApnsRequestRecord[] {
    return this.requests.filter((request) => request.deviceToken === deviceToken);
  }

  /** Resolves once `count` requests (in all) have arrived; rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs: number = DEFAULT_WAIT_MS): Promise<ApnsRequestRecord[]> {
    return this.waitFor(
      () => this.requests.length >= count,
      timeoutMs,
      () => `${count} APNs requests (got ${this.requests.length})`,
    ).then(() => this.requests.slice(0, count));
  }

  /** Resolves once `condition()` holds, checked on every request, answer, session opened and session closed. */
  waitFor(condition: () => boolean, timeoutMs: number = DEFAULT_WAIT_MS, what = () => 'a condition'): Promise<void> {
    return waitForCondition(this.#waiters, 'test APNs server', condition, timeoutMs, what);
  }

  /**
   * Sends GOAWAY on every open session and closes it once its streams finish, as APNs does
   * when it shuts a connection down (JSON `{"reason": …}` as debug data, as Apple does).
   */
  goAway(reason = 'Shutdown'): void {
    for (const session of this.#sessions) {
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, 0, Buffer.from(JSON.stringify({ reason })));
      session.close();
    }
  }

  /** Destroys every open session at once, with no GOAWAY: a network failure as the client sees it. */
  disconnect(): void {
    for (const session of this.#sessions) {
      session.destroy();
    }
  }

  /** Calls `listener` with each request once it is answered (or cancelled). Returns the unsubscribe. */
  onAnswer(listener: (request: ApnsRequestRecord) => void): () => void {
    this.#answerListeners.add(listener);
    return () => this.#answerListeners.delete(listener);
  }

  /** Stops listening, drops every session and pending answer, deletes the temp dir. */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    for (const timer of this.#timers) {
      clearTimeout(timer);
    }
    this.#timers.clear();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const session of this.#sessions) {
      session.destroy();
    }
    await closed;
    await rm(this.#dir, { recursive: true, force: true });
  }

  #onSession(session: http2.ServerHttp2Session): void {
    this.#sessionsOpened += 1;
    const id = this.#sessionsOpened;
    sessionIds.set(session, id);
    this.#sessions.add(session);
    this.#notify();
    session.on('close', () => {
      this.#sessions.delete(session);
      this.#notify();
    });
    // A client that vanishes mid-stream must not crash the test run.
    session.on('error', () => {});
  }

  #onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const record = this.#record(stream, headers, body);
      this.requests.push(record);
      this.#notify();
      const answer = this.#check(record, headers) ?? this.#scripted(record);
      this.#answer(stream, record, answer);
    });
  }

  #record(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: string): ApnsRequestRecord {
    const requestPath = String(headers[':path'] ?? '');
    const plain: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!name.startsWith(':') && value !== undefined) {
        plain[name] = Array.isArray(value) ? value.join(', ') : String(value);
      }
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      payload = undefined;
    }
    const bearer = /^bearer (.+)$/i.exec(plain.authorization ?? '')?.[1];
    return {
      deviceToken: /^\/3\/device\/([^/?]*)$/.exec(requestPath)?.[1] ?? '',
      method: String(headers[':method'] ?? ''),
      path: requestPath,
      headers: plain,
      jwt: bearer === undefined ? null : decodeJwt(bearer),
      body,
      payload,
      receivedAt: Date.now(),
      session: sessionIds.get(stream.session as http2.ServerHttp2Session) ?? 0,
      answer: null,
    };
  }

  /** Apple's own checks; an answer when the request fails one, else null. */
  #check(record: ApnsRequestRecord, headers: http2.IncomingHttpHeaders): ApnsAnswer | null {
    if (record.method !== 'POST') {
      return { status: 405, reason: 'MethodNotAllowed' };
    }
    if (!/^\/3\/device\/[^/?]*$/.test(record.path)) {
      return { status: 404, reason: 'BadPath' };
    }
    if (record.deviceToken === '') {
      return { status: 400, reason: 'MissingDeviceToken' };
    }
    const auth = this.#checkProviderToken(record);
    if (auth !== null) {
      return auth;
    }
    const topic = record.headers['apns-topic'];
    if (topic === undefined || topic === '') {
      return { status: 400, reason: 'MissingTopic' };
    }
    const pushType = record.headers['apns-push-type'];
    if (pushType === undefined || !PUSH_TYPES.has(pushType)) {
      return { status: 400, reason: 'InvalidPushType' };
    }
    const priority = record.headers['apns-priority'];
    if (priority !== undefined && !['1', '5', '10'].includes(priority)) {
      return { status: 400, reason: 'BadPriority' };
    }
    const expiration = record.headers['apns-expiration'];
    if (expiration !== undefined && !/^\d{1,12}$/.test(expiration)) {
      return { status: 400, reason: 'BadExpirationDate' };
    }
    const collapseId = headers['apns-collapse-id'];
    if (Array.isArray(collapseId)) {
      return { status: 400, reason: 'DuplicateHeaders' };
    }
    if (collapseId !== undefined && Buffer.byteLength(collapseId) > APNS_MAX_COLLAPSE_ID_BYTES) {
      return { status: 400, reason: 'BadCollapseId' };
    }
    if (record.body.length === 0) {
      return { status: 400, reason: 'PayloadEmpty' };
    }
    if (Buffer.byteLength(record.body) > APNS_MAX_PAYLOAD_BYTES) {
      return { status: 413, reason: 'PayloadTooLarge' };
    }
    if (typeof record.payload !== 'object' || record.payload === null || !('aps' in record.payload)) {
      // Apple documents no reason string for a body that is not a JSON object with `aps`;
      // this one is the test server's own.
      return { status: 400, reason: 'BadPayload' };
    }
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(record.deviceToken)) {
      return { status: 400, reason: 'BadDeviceToken' };
    }
    return null;
  }

  #checkProviderToken(record: ApnsRequestRecord): ApnsAnswer | null {
    if (record.headers.authorization === undefined) {
      return { status: 403, reason: 'MissingProviderToken' };
    }
    const jwt = record.jwt;
    const invalid: ApnsAnswer = { status: 403, reason: 'InvalidProviderToken' };
    if (jwt === null || jwt.header.alg !== 'ES256' || jwt.header.kid !== this.keyId || jwt.claims.iss !== this.teamId) {
      return invalid;
    }
    const [header, claims, signature] = jwt.raw.split('.') as [string, string, string];
    const signed = verifySignature(
      'sha256',
      Buffer.from(`${header}.${claims}`),
      { key: this.#publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signature, 'base64url'),
    );
    const iat = jwt.claims.iat;
    if (!signed || typeof iat !== 'number' || !Number.isInteger(iat)) {
      return invalid;
    }
    if (Date.now() / 1000 - iat > APNS_TOKEN_MAX_AGE_SECONDS) {
      return { status: 403, reason: 'ExpiredProviderToken' };
    }
    return null;
  }

  #scripted(record: ApnsRequestRecord): ApnsAnswer {
    const queue = this.#queues.get(record.deviceToken);
    const queued = queue?.shift();
    if (queued !== undefined) {
      return queued;
    }
    return this.#always.get(record.deviceToken) ?? this.#rule?.(record) ?? ApnsAnswers.ok;
  }

  #answer(stream: http2.ServerHttp2Stream, record: ApnsRequestRecord, answer: ApnsAnswer): void {
    const send = () => {
      if (stream.destroyed || stream.closed) {
        record.answer = { cancelled: true };
        this.#answered(record);
        return;
      }
      const apnsId = String(record.headers['apns-id'] ?? randomUUID());
      record.answer = { ...answer, apnsId };
      if (answer.status === 200) {
        stream.respond({ ':status': 200, 'apns-id': apnsId }, { endStream: true });
      } else {
        const body: { reason: string; timestamp?: number } = { reason: answer.reason ?? 'UnknownError' };
        if (answer.timestamp !== undefined) {
          body.timestamp = answer.timestamp;
        }
        stream.respond({ ':status': answer.status, 'apns-id': apnsId, 'content-type': 'application/json' });
        stream.end(JSON.stringify(body));
      }
      this.#answered(record);
    };
    if (answer.delayMs === undefined || answer.delayMs <= 0) {
      send();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, answer.delayMs);
    this.#timers.add(timer);
    // A client that gives up resets the stream: record that now, not when the delay ends.
    stream.once('close', () => {
      if (record.answer === null) {
        clearTimeout(timer);
        this.#timers.delete(timer);
        send();
      }
    });
  }

  #answered(record: ApnsRequestRecord): void {
    for (const listener of [...this.#answerListeners]) {
      listener(record);
    }
    this.#notify();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) {
      waiter();
    }
  }
}

const sessionIds = new WeakMap<http2.ServerHttp2Session, number>();

function decodeJwt(raw: string): ApnsJwt | null {
  const parts = raw.split('.');
  if (parts.length !== 3) {
    return null;
  }
  try {
    const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims)) {
      return null;
    }
    return { raw, header, claims };
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A CA (`dir/ca.pem`) and a server certificate for 127.0.0.1 and localhost, by the openssl CLI (the Web Push test server uses it too). */
export async function makeCertificates(dir: string): Promise<{ key: string; cert: string }> {
  const file = (name: string) => path.join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    String(CERT_DAYS),
    '-subj',
    '/CN=badgesync test APNs CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  await run('openssl', [
    'req',
    ...ec,
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
    '-subj',
    '/CN=localhost',
  ]);
  await writeFile(
    file('server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '',
    ].join('\n'),
  );
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-set_serial',
    `0x${randomUUID().replaceAll('-', '')}`,
    '-days',
    String(CERT_DAYS),
    '-extfile',
    file('server.ext'),
    '-out',
    file('server.pem'),
  ]);
  // The CA key has signed all it ever will; nothing should be able to mint more certificates.
  await rm(file('ca.key'));
  return { key: await readFile(file('server.key'), 'utf8'), cert: await readFile(file('server.pem'), 'utf8') };
}
