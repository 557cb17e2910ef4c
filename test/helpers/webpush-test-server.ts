/**
 * A stand-in for a browser's push service (RFC 8030): HTTPS on 127.0.0.1 with a private CA
 * (the server process trusts it through NODE_EXTRA_CA_CERTS), subscriptions whose private
 * keys the test holds, and the checks a push service and a browser make together:
 *
 * - the VAPID JWT (RFC 8292): `Authorization: vapid t=<jwt>, k=<public key>`, ES256 signed
 *   by `k`, `aud` = this origin, `exp` in the future and at most 24 h away, `sub` a mailto:
 *   or https: URL, and `k` the key the subscription was made with (else 403, as services do);
 * - `TTL` present, `Urgency` and `Topic` well-formed when present;
 * - the body DECRYPTED as the browser would (RFC 8291, `aes128gcm`, RFC 8188) with the
 *   subscription's private key and auth secret: a wrong encryption is a 400 and a failed test.
 *
 * Only a request that passes all of them gets a scripted answer (default 201).
 */
import {
  createDecipheriv,
  createECDH,
  createHmac,
  createPublicKey,
  type ECDH,
  randomBytes,
  randomUUID,
  verify as verifySignature,
} from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeCertificates } from './apns-test-server.js';
import { DEFAULT_WAIT_MS, waitForCondition } from './test-server-kit.js';

/** VAPID: a JWT may not be valid for more than 24 hours (RFC 8292 §2). */
export const VAPID_MAX_LIFETIME_SECONDS = 24 * 60 * 60;
/** The largest payload every push service accepts (RFC 8030 §7.2 asks for at least 4096 bytes). */
export const WEBPUSH_MAX_BODY_BYTES = 4096;
const URGENCIES: ReadonlySet<string> = new Set(['very-low', 'low', 'normal', 'high']);

/** A subscription as the browser hands it to the app (`PushSubscription.toJSON()`). */
export interface TestSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/** One scripted answer. */
export interface WebPushAnswer {
  readonly status: number;
  /** The Retry-After header (seconds or an HTTP date), for 429 and 503. */
  readonly retryAfter?: string;
  readonly body?: string;
  /** Wait this long before answering. */
  readonly delayMs?: number;
}

export const WebPushAnswers = {
  created: { status: 201 },
  notFound: { status: 404, body: 'subscription not found' },
  gone: { status: 410, body: 'push subscription has unsubscribed or expired' },
  tooManyRequests: (retryAfter?: string): WebPushAnswer => ({
    status: 429,
    body: 'slow down',
    ...(retryAfter === undefined ? {} : { retryAfter }),
  }),
  unavailable: (retryAfter?: string): WebPushAnswer => ({
    status: 503,
    body: 'try later',
    ...(retryAfter === undefined ? {} : { retryAfter }),
  }),
  tooLarge: { status: 413, body: 'payload too large' },
  badRequest: { status: 400, body: 'bad request' },
} as const satisfies Record<string, WebPushAnswer | ((...args: never[]) => WebPushAnswer)>;

/** One request as the push service saw it, and what it answered. */
export interface WebPushRequestRecord {
  /** The subscription id from the path ('' when the path names none). */
  readonly subscriptionId: string;
  readonly method: string;
  readonly path: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The VAPID JWT's claims, when it parsed. */
  readonly vapidClaims: Readonly<Record<string, unknown>> | null;
  /** `k` of the Authorization header. */
  readonly vapidKey: string | null;
  readonly ttl: number | null;
  readonly urgency: string | null;
  readonly topic: string | null;
  /** The body as it arrived (encrypted). */
  readonly body: Buffer;
  /** The decrypted payload text, when decryption succeeded. */
  readonly plaintext: string | null;
  /** `JSON.parse(plaintext)`, or undefined. */
  readonly payload: unknown;
  /** What failed, when the request was refused before the scripted answer. */
  readonly refusal: string | null;
  readonly receivedAt: number;
  answer: WebPushAnswer | null;
}

interface Held {
  readonly ecdh: ECDH;
  readonly auth: Buffer;
  /** The `applicationServerKey` the subscription was made with (the server's VAPID public key). */
  readonly applicationServerKey: string;
}

export class WebPushTestServer {
  readonly host = '127.0.0.1';
  readonly port: number;
  /** PEM of the CA: NODE_EXTRA_CA_CERTS of the process that sends. */
  readonly caPath: string;
  readonly requests: WebPushRequestRecord[] = [];
  readonly #server: https.Server;
  readonly #dir: string;
  readonly #subscriptions = new Map<string, Held>();
  readonly #queues = new Map<string, WebPushAnswer[]>();
  readonly #always = new Map<string, WebPushAnswer>();
  readonly #waiters = new Set<() => void>();
  readonly #answerListeners = new Set<(request: WebPushRequestRecord) => void>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  private constructor(server: https.Server, dir: string) {
    this.#server = server;
    this.#dir = dir;
    this.caPath = path.join(dir, 'ca.pem');
    this.port = (server.address() as AddressInfo).port;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res));
  }

  static async start(): Promise<WebPushTestServer> {
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-webpush-'));
    try {
      const tls = await makeCertificates(dir);
      const server = https.createServer({ key: tls.key, cert: tls.cert });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
      return new WebPushTestServer(server, dir);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** `https://127.0.0.1:<port>`: the `aud` a VAPID JWT must name. */
  get origin(): string {
    return `https://${this.host}:${this.port}`;
  }

  /** `127.0.0.1:<port>`: the value for BADGESYNC_WEBPUSH_HOSTS. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * A new subscription, as a browser makes one for a page that passed `applicationServerKey`
   * (the server's VAPID public key): a fresh P-256 key pair and auth secret held here.
   */
  subscribe(applicationServerKey: string): TestSubscription {
    const id = randomUUID();
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16);
    this.#subscriptions.set(id, { ecdh, auth, applicationServerKey });
    return {
      endpoint: `${this.origin}/push/${id}`,
      keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
    };
  }

  /** The subscription id of an endpoint made by `subscribe`. */
  idOf(subscription: TestSubscription): string {
    return subscription.endpoint.slice(subscription.endpoint.lastIndexOf('/') + 1);
  }

  /** Answers for the subscription's next requests, one each, in order; then the usual answer. */
  enqueue(subscription: TestSubscription, ...answers: WebPushAnswer[]): void {
    const id = this.idOf(subscription);
    this.#queues.set(id, [...(this.#queues.get(id) ?? []), ...answers]);
  }

  /** The answer for every request to the subscription once its queue is empty. */
  answerAlways(subscription: TestSubscription, answer: WebPushAnswer): void {
    this.#always.set(this.idOf(subscription), answer);
  }

  requestsFor(subscription: TestSubscription): WebPushRequestRecord[] {
    const id = this.idOf(subscription);
    return this.requests.filter((request) => request.subscriptionId === id);
  }

  /** Badges the service accepted (2xx) for the subscription, in order, from the decrypted payloads. */
  delivered(subscription: TestSubscription): number[] {
    return this.requestsFor(subscription)
      .filter((r) => r.answer !== null && r.answer.status >= 200 && r.answer.status < 300)
      .map((r) => {
        const badge = (r.payload as { badge?: unknown } | undefined)?.badge;
        return typeof badge === 'number' ? badge : Number.NaN;
      });
  }

  /** Resolves once `condition()` holds, checked on every request and answer; rejects after `timeoutMs`. */
  waitFor(condition: () => boolean, timeoutMs: number = DEFAULT_WAIT_MS, what = () => 'a condition'): Promise<void> {
    return waitForCondition(this.#waiters, 'test Web Push server', condition, timeoutMs, what);
  }

  /** Calls `listener` with each request once it is answered. Returns the unsubscribe. */
  onAnswer(listener: (request: WebPushRequestRecord) => void): () => void {
    this.#answerListeners.add(listener);
    return () => this.#answerListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
    await rm(this.#dir, { recursive: true, force: true });
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const record = this.#record(req, Buffer.concat(chunks));
      this.requests.push(record);
      const answer = record.refusal !== null ? refusalAnswer(record.refusal) : this.#scripted(record.subscriptionId);
      this.#answer(res, record, answer);
    });
  }

  #record(req: IncomingMessage, body: Buffer): WebPushRequestRecord {
    const requestPath = req.url ?? '';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const subscriptionId = /^\/push\/([^/?]+)$/.exec(requestPath)?.[1] ?? '';
    const vapid = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(headers.authorization ?? '');
    const jwt = vapid?.[1] ?? null;
    const vapidKey = vapid?.[2] ?? null;
    const ttlText = headers.ttl;
    const base = {
      subscriptionId,
      method: req.method ?? '',
      path: requestPath,
      headers,
      vapidClaims: jwt === null ? null : claimsOf(jwt),
      vapidKey,
      ttl: ttlText !== undefined && /^\d+$/.test(ttlText) ? Number(ttlText) : null,
      urgency: headers.urgency ?? null,
      topic: headers.topic ?? null,
      body,
      receivedAt: Date.now(),
      answer: null,
    };
    const refuse = (refusal: string): WebPushRequestRecord => ({
      ...base,
      plaintext: null,
      payload: undefined,
      refusal,
    });
    if (req.method !== 'POST') return refuse('MethodNotAllowed');
    const held = this.#subscriptions.get(subscriptionId);
    if (held === undefined) return refuse('UnknownSubscription');
    const vapidProblem = this.#checkVapid(jwt, vapidKey, held);
    if (vapidProblem !== null) return refuse(vapidProblem);
    if (base.ttl === null) return refuse('MissingTTL');
    if (base.urgency !== null && !URGENCIES.has(base.urgency)) return refuse('BadUrgency');
    if (base.topic !== null && !/^[A-Za-z0-9_-]{1,32}$/.test(base.topic)) return refuse('BadTopic');
    if (headers['content-encoding'] !== 'aes128gcm') return refuse('BadContentEncoding');
    if (body.length > WEBPUSH_MAX_BODY_BYTES) return refuse('PayloadTooLarge');
    let plaintext: string;
    try {
      plaintext = decryptAes128gcm(body, held.ecdh, held.auth).toString('utf8');
    } catch (error) {
      return refuse(`DecryptionFailed: ${(error as Error).message}`);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(plaintext);
    } catch {
      payload = undefined;
    }
    return { ...base, plaintext, payload, refusal: null };
  }

  /** RFC 8292: a problem with the JWT or key, or null. */
  #checkVapid(jwt: string | null, key: string | null, held: Held): string | null {
    if (jwt === null || key === null) return 'MissingVapid';
    const parts = jwt.split('.');
    if (parts.length !== 3) return 'BadJwt';
    const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
    const header = jsonOf(headerPart);
    const claims = jsonOf(claimsPart);
    if (header === null || claims === null || header.alg !== 'ES256') return 'BadJwt';
    const point = Buffer.from(key, 'base64url');
    if (point.length !== 65 || point[0] !== 4) return 'BadVapidKey';
    const publicKey = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33).toString('base64url'),
      },
      format: 'jwk',
    });
    const signed = verifySignature(
      'sha256',
      Buffer.from(`${headerPart}.${claimsPart}`),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      Buffer.from(signaturePart, 'base64url'),
    );
    if (!signed) return 'BadJwtSignature';
    if (claims.aud !== this.origin) return 'BadJwtAudience';
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number' || claims.exp <= now || claims.exp > now + VAPID_MAX_LIFETIME_SECONDS + 60) {
      return 'BadJwtExpiry';
    }
    if (typeof claims.sub !== 'string' || !/^(?:mailto:.+|https:\/\/.+)$/.test(claims.sub)) return 'BadJwtSubject';
    if (key !== held.applicationServerKey) return 'VapidKeyMismatch';
    return null;
  }

  #scripted(id: string): WebPushAnswer {
    const queued = this.#queues.get(id)?.shift();
    return queued ?? this.#always.get(id) ?? WebPushAnswers.created;
  }

  #answer(res: ServerResponse, record: WebPushRequestRecord, answer: WebPushAnswer): void {
    const send = () => {
      record.answer = answer;
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (answer.retryAfter !== undefined) headers['retry-after'] = answer.retryAfter;
      if (answer.status === 201) headers.location = `${this.origin}/message/${randomUUID()}`;
      res.writeHead(answer.status, headers);
      res.end(answer.body ?? '');
      for (const listener of [...this.#answerListeners]) listener(record);
      this.#notify();
    };
    this.#notify();
    if (answer.delayMs === undefined || answer.delayMs <= 0) return send();
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      send();
    }, answer.delayMs);
    this.#timers.add(timer);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

/** What a push service answers a request that fails its checks. */
function refusalAnswer(refusal: string): WebPushAnswer {
  if (refusal === 'UnknownSubscription') return { status: 404, body: refusal };
  if (refusal === 'MethodNotAllowed') return { status: 405, body: refusal };
  if (refusal === 'PayloadTooLarge') return { status: 413, body: refusal };
  if (/Vapid|Jwt/.test(refusal)) return { status: 403, body: refusal };
  return { status: 400, body: refusal };
}

function jsonOf(part: string): Record<string, unknown> | null {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

function claimsOf(jwt: string): Record<string, unknown> | null {
  return jsonOf(jwt.split('.')[1] ?? '');
}

function hmac(key: Buffer, ...data: Buffer[]): Buffer {
  const mac = createHmac('sha256', key);
  for (const part of data) mac.update(part);
  return mac.digest();
}

/**
 * RFC 8291 §3.4 + RFC 8188 §2, as the browser (user agent) decrypts: the header is salt (16),
 * record size (4), key id length (1) and key id = the sender's ephemeral public key (65).
 * One record, ending in the 0x02 delimiter and optional zero padding. Throws on any mismatch.
 */
export function decryptAes128gcm(body: Buffer, ua: ECDH, authSecret: Buffer): Buffer {
  if (body.length < 21) throw new Error('body shorter than the aes128gcm header');
  const salt = body.subarray(0, 16);
  const recordSize = body.readUInt32BE(16);
  const idLength = body.readUInt8(20);
  if (idLength !== 65) throw new Error(`key id of ${idLength} bytes, not a P-256 public key`);
  const asPublic = body.subarray(21, 21 + idLength);
  const ciphertext = body.subarray(21 + idLength);
  if (ciphertext.length > recordSize || ciphertext.length < 17) throw new Error('not exactly one record');
  const uaPublic = ua.getPublicKey();
  const ecdhSecret = ua.computeSecret(asPublic);
  const keyInfo = Buffer.concat([Buffer.from('WebPush: info\0'), uaPublic, asPublic]);
  const prkKey = hmac(authSecret, ecdhSecret);
  const ikm = hmac(prkKey, keyInfo, Buffer.from([1])).subarray(0, 32);
  const prk = hmac(salt, ikm);
  const cek = hmac(prk, Buffer.from('Content-Encoding: aes128gcm\0'), Buffer.from([1])).subarray(0, 16);
  const nonce = hmac(prk, Buffer.from('Content-Encoding: nonce\0'), Buffer.from([1])).subarray(0, 12);
  const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
  decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
  const padded = Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== 2) throw new Error('no last-record delimiter (0x02)');
  return padded.subarray(0, end);
}
