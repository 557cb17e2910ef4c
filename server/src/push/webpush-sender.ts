/**
 * Badge pushes to browsers over Web Push (RFC 8030) with the `web-push` package: the payload
 * `{"badge": n}` encrypted `aes128gcm` for the subscription (RFC 8291), signed with our VAPID
 * key (RFC 8292), with `Topic`, `Urgency` and `TTL` (SPEC PUSH-20..PUSH-22).
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:https';
import webpush from 'web-push';
import { LOUD_LOG_INTERVAL_MS } from './apns-sender.js';
import {
  MAX_BADGE,
  MAX_COLLAPSE_ID_BYTES,
  type PushLog,
  type PushSender,
  SENDER_CLOSED,
  type SendResult,
  type WebPushBadgePush,
} from './push-sender.js';
import type { VapidKeys } from './webpush-keys.js';
import { resultOfWebPushAnswer, resultOfWebPushError, WebPushGone } from './webpush-results.js';
import { endpointAllowed, keysWellFormed } from './webpush-subscription.js';

/**
 * Keep an undelivered badge at the push service for 28 days (`TTL`, seconds). A browser that
 * is closed gets it when it next runs; ours is absolute and the newest, so longer is better
 * (a badge the service dropped leaves the one from before, older still). 28 days is FCM's
 * maximum (4 weeks); other services cap lower on their own, which is harmless.
 */
export const WEBPUSH_TTL_SECONDS = 28 * 24 * 60 * 60;
/**
 * `Urgency: normal`: a badge is not worth waking a phone on low battery (`high`), nor should
 * a browser on battery hold it back until charging (`low`, `very-low`). Normal is delivered
 * when the device is awake, which is when a badge is looked at.
 */
export const WEBPUSH_URGENCY = 'normal';
/**
 * 10 s for the push service to answer: it answers in well under a second; a request silent
 * for 10 s is stuck, and `retry` lets the outbox try again instead of holding the push.
 * Sending the absolute badge twice is harmless.
 */
export const DEFAULT_WEBPUSH_TIMEOUT_MS = 10_000;
/**
 * At most 32 connections per push service host, kept alive: one browser vendor's service
 * carries every subscription of its browsers, so pushes reuse a few connections, and 32 is
 * the scheduler's in-flight window.
 */
const MAX_SOCKETS_PER_HOST = 32;
/**
 * A VAPID JWT is valid for 12 hours and reused for one hour per push service origin. Signing
 * one costs about 2 ms of CPU (web-push re-encodes the key each time; measured beside its 1 ms
 * of aes128gcm encryption), so signing per push would double what a push costs the server;
 * push services accept a JWT until its `exp` (at most 24 h away, RFC 8292), and renewing it
 * hourly keeps it far from expiring mid-flight or on a clock that is a little off.
 */
export const VAPID_JWT_LIFETIME_S = 12 * 60 * 60;
export const VAPID_JWT_REUSE_MS = 60 * 60_000;
/** The Topic header: at most 32 characters of the URL-safe base64 alphabet (RFC 8030 §5.4). */
const TOPIC_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

export interface WebPushSenderOptions {
  readonly vapid: Pick<VapidKeys, 'publicKey' | 'privateKey' | 'subject'>;
  /** Host patterns endpoints may name (webpush-subscription.ts). */
  readonly hosts: readonly string[];
  readonly timeoutMs?: number;
  /**
   * PEM of a CA to trust instead of Node's (in-process tests of a private push service). A
   * deployment behind a private CA sets NODE_EXTRA_CA_CERTS instead, as for APNs.
   */
  readonly ca?: string;
  readonly log?: PushLog;
  readonly now?: () => number;
}

/**
 * The Topic of a collapse id: the id itself when it is a valid topic, else 32 characters of
 * its SHA-256. A push service keeps one undelivered message per topic and subscription, so a
 * browser that was off receives only the newest badge.
 */
export function webPushTopic(collapseId: string): string {
  if (TOPIC_PATTERN.test(collapseId)) return collapseId;
  return createHash('sha256').update(collapseId).digest('base64url').slice(0, 32);
}

/** The payload the service worker helper recognises (client/src/service-worker.ts). */
export function webPushPayload(badge: number): string {
  return JSON.stringify({ badge });
}

/** `PushSender` for Web Push: one push per browser subscription, with its whole badge. */
export class WebPushSender implements PushSender<WebPushBadgePush> {
  readonly #options: WebPushSenderOptions;
  readonly #agent: Agent;
  readonly #inFlight = new Set<Promise<SendResult>>();
  readonly #loud = new Map<string, { at: number; suppressed: number }>();
  /** The VAPID Authorization header by push service origin, and when to sign a new one. */
  readonly #jwts = new Map<string, { readonly header: string; readonly renewAt: number }>();
  readonly #now: () => number;
  #closed = false;

  constructor(options: WebPushSenderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#agent = new Agent({
      keepAlive: true,
      maxSockets: MAX_SOCKETS_PER_HOST,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
  }

  /** Never rejects: every outcome is a `SendResult`. */
  send(message: WebPushBadgePush): Promise<SendResult> {
    const malformed = checkWebPushMessage(message, this.#options.hosts);
    if (malformed !== null) return Promise.resolve(malformed);
    if (this.#closed) return Promise.resolve({ kind: 'retry', reason: SENDER_CLOSED });
    const sending = this.#attempt(message);
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
    return sending;
  }

  /** Waits for pushes in flight, then closes the kept-alive connections. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
    this.#agent.destroy();
  }

  async #attempt(message: WebPushBadgePush): Promise<SendResult> {
    let result: SendResult;
    let status: number | null = null;
    let body = '';
    try {
      const answer = await webpush.sendNotification(message.subscription, webPushPayload(message.badge), {
        // Our own, cached VAPID header instead of web-push's one signature per push.
        headers: { Authorization: this.#vapidHeader(message.subscription.endpoint) },
        contentEncoding: 'aes128gcm',
        TTL: WEBPUSH_TTL_SECONDS,
        urgency: WEBPUSH_URGENCY,
        topic: webPushTopic(message.collapseId),
        timeout: this.#options.timeoutMs ?? DEFAULT_WEBPUSH_TIMEOUT_MS,
        agent: this.#agent,
      });
      result = resultOfWebPushAnswer(answer.statusCode, undefined, this.#now());
    } catch (error) {
      if (error instanceof webpush.WebPushError) {
        status = error.statusCode;
        body = typeof error.body === 'string' ? error.body : '';
        result = resultOfWebPushAnswer(error.statusCode, headerOf(error.headers, 'retry-after'), this.#now());
      } else result = resultOfWebPushError(error);
    }
    this.#report(message, result, status, body);
    return result;
  }

  /** The VAPID `Authorization` header for the endpoint's origin (the JWT's `aud`), signed at most hourly. */
  #vapidHeader(endpoint: string): string {
    const audience = new URL(endpoint).origin;
    const now = this.#now();
    const cached = this.#jwts.get(audience);
    if (cached !== undefined && now < cached.renewAt) return cached.header;
    const { subject, publicKey, privateKey } = this.#options.vapid;
    const expiration = Math.floor(now / 1000) + VAPID_JWT_LIFETIME_S;
    const header = webpush.getVapidHeaders(
      audience,
      subject,
      publicKey,
      privateKey,
      'aes128gcm',
      expiration,
    ).Authorization;
    this.#jwts.set(audience, { header, renewAt: now + VAPID_JWT_REUSE_MS });
    return header;
  }

  /** Permanent refusals and "fix the deployment" answers are logged here; the rest are the caller's. */
  #report(message: WebPushBadgePush, result: SendResult, status: number | null, body: string): void {
    const host = hostOf(message.subscription.endpoint);
    if (result.kind === 'failed') {
      // 400 and 413 mean this request can never succeed: a bug here or a push service that
      // changed its rules. The push service's own words say which.
      this.#loudly(
        `failed:${result.reason}`,
        'warn',
        { host, status, body: body.slice(0, 200), result },
        'Web Push refused the push for good',
      );
    } else if (result.kind === 'provider-token') {
      this.#loudly(
        `vapid:${host}`,
        'error',
        { host, status, body: body.slice(0, 200), result },
        'Web Push refused our VAPID signature: check BADGESYNC_VAPID_* (a subscription made with another public key never works)',
      );
    } else if (result.kind === 'retry' && result.reason.startsWith('TLS: ')) {
      this.#loudly(
        result.reason,
        'error',
        { host, result },
        'the push service presented a certificate this process does not trust',
      );
    }
  }

  #loudly(key: string, level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    const log = this.#options.log;
    if (log === undefined) return;
    const now = this.#now();
    const last = this.#loud.get(key);
    if (last !== undefined && now - last.at < LOUD_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    this.#loud.set(key, { at: now, suppressed: 0 });
    log(level, { ...fields, suppressedSinceLast: last?.suppressed ?? 0 }, message);
  }
}

/** The checks made before anything leaves the process; null for a well-formed message. */
export function checkWebPushMessage(message: WebPushBadgePush, hosts: readonly string[]): SendResult | null {
  const subscription = message.subscription as WebPushBadgePush['subscription'] | undefined;
  if (
    typeof subscription !== 'object' ||
    subscription === null ||
    !endpointAllowed(subscription.endpoint, hosts) ||
    !keysWellFormed(subscription.keys)
  ) {
    return { kind: 'invalid-token', reason: WebPushGone.badSubscription };
  }
  if (!Number.isSafeInteger(message.badge) || message.badge < 0 || message.badge > MAX_BADGE) {
    return { kind: 'failed', reason: 'BadBadge' };
  }
  // The same bound as APNs and FCM, so a collapse id means the same on every platform.
  if (
    typeof message.collapseId !== 'string' ||
    message.collapseId.length === 0 ||
    Buffer.byteLength(message.collapseId, 'utf8') > MAX_COLLAPSE_ID_BYTES
  ) {
    return { kind: 'failed', reason: 'BadCollapseId' };
  }
  return null;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (typeof headers !== 'object' || headers === null) return undefined;
  const value = (headers as Record<string, unknown>)[name];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** The endpoint's host: enough to tell push services apart in logs; the path is the capability. */
function hostOf(endpoint: string): string {
  try {
    return new URL(endpoint).host;
  } catch {
    return '(not a URL)';
  }
}
