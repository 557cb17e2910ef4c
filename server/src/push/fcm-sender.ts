/**
 * `PushSender` for Android apps: FCM HTTP v1 (SPEC PUSH-15). One `messages:send` POST per
 * push, a data message carrying the badge (fcm-message.ts), authorised by an OAuth access
 * token minted from the service-account key (fcm-access-token.ts). What each answer means is
 * in fcm-results.ts.
 */
import { readFile } from 'node:fs/promises';
import { FcmAccessToken, parseServiceAccountKey, type ServiceAccountKey } from './fcm-access-token.js';
import { checkFcmPush, fcmMessage } from './fcm-message.js';
import { fcmResult } from './fcm-results.js';
import { type FcmBadgePush, type PushLog, type PushSender, SENDER_CLOSED, type SendResult } from './push-sender.js';

export const FCM_BASE_URL = 'https://fcm.googleapis.com';
/**
 * A send that has not answered in 15 s is retried with backoff: FCM answers in well under a
 * second, and the outbox keeps the newest badge meanwhile.
 */
const SEND_TIMEOUT_MS = 15_000;
/** The same provider error is logged at most once a minute, not once per push. */
const LOG_EVERY_MS = 60_000;

export interface FcmSenderOptions {
  /** FCM's base URL (null: Google's); http is fine for a test server. */
  readonly baseUrl?: string | null;
  readonly log: PushLog;
  /** For tests: the access-token source (default: google-auth-library with the key). */
  readonly accessToken?: FcmAccessToken;
}

export class FcmSender implements PushSender<FcmBadgePush> {
  readonly #url: string;
  readonly #tokens: FcmAccessToken;
  readonly #log: PushLog;
  readonly #inFlight = new Set<Promise<SendResult>>();
  readonly #loggedAt = new Map<string, number>();
  #closed = false;

  constructor(key: ServiceAccountKey, options: FcmSenderOptions) {
    const base = (options.baseUrl ?? FCM_BASE_URL).replace(/\/+$/, '');
    this.#url = `${base}/v1/projects/${encodeURIComponent(key.project_id)}/messages:send`;
    this.#tokens = options.accessToken ?? new FcmAccessToken(key);
    this.#log = options.log;
  }

  /** Reads and checks the key file (BADGESYNC_FCM_SERVICE_ACCOUNT); throws naming what is wrong. */
  static async fromKeyFile(file: string, options: FcmSenderOptions): Promise<FcmSender> {
    const key = parseServiceAccountKey(await readFile(file, 'utf8'));
    options.log('info', { project: key.project_id }, 'FCM badge pushes go to the project of the service account');
    return new FcmSender(key, options);
  }

  send(push: FcmBadgePush): Promise<SendResult> {
    const malformed = checkFcmPush(push);
    if (malformed !== null) return Promise.resolve(malformed);
    if (this.#closed) return Promise.resolve({ kind: 'retry', reason: SENDER_CLOSED });
    const sending = this.#send(push);
    this.#inFlight.add(sending);
    void sending.finally(() => this.#inFlight.delete(sending));
    return sending;
  }

  async #send(push: FcmBadgePush): Promise<SendResult> {
    const body = JSON.stringify(fcmMessage(push));
    const first = await this.#post(body);
    if (first.kind !== 'unauthorized') return first.result;
    // [PUSH-15] 401: the access token expired or was revoked early: a new one, once.
    this.#tokens.invalidate(first.token);
    const second = await this.#post(body);
    if (second.kind !== 'unauthorized') return second.result;
    return this.#providerError('UNAUTHENTICATED');
  }

  async #post(body: string): Promise<{ kind: 'done'; result: SendResult } | { kind: 'unauthorized'; token: string }> {
    let token: string;
    try {
      token = await this.#tokens.get();
    } catch (err) {
      return { kind: 'done', result: this.#tokenError(err) };
    }
    let response: Response;
    let answer: unknown = null;
    try {
      response = await fetch(this.#url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      const text = await response.text();
      try {
        answer = text === '' ? null : JSON.parse(text);
      } catch {
        answer = null;
      }
    } catch (err) {
      return { kind: 'done', result: { kind: 'retry', reason: networkReason(err) } };
    }
    if (response.status === 401) return { kind: 'unauthorized', token };
    const result = fcmResult(response.status, answer, response.headers.get('retry-after'));
    if (result.kind === 'provider-token') return { kind: 'done', result: this.#providerError(result.reason) };
    return { kind: 'done', result };
  }

  /** The token endpoint refused the key (`invalid_grant`, 4xx): an operator problem; else retry. */
  #tokenError(err: unknown): SendResult {
    const status = (err as { response?: { status?: number } }).response?.status;
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      return this.#providerError(`OAuth ${status}`);
    }
    return { kind: 'retry', reason: status === undefined ? `OAuth: ${networkReason(err)}` : `OAuth ${status}` };
  }

  #providerError(reason: string): SendResult {
    const now = Date.now();
    if ((this.#loggedAt.get(reason) ?? Number.NEGATIVE_INFINITY) + LOG_EVERY_MS <= now) {
      this.#loggedAt.set(reason, now);
      this.#log('error', { reason }, 'FCM refused the service account: check BADGESYNC_FCM_SERVICE_ACCOUNT');
    }
    return { kind: 'provider-token', reason };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#inFlight]);
  }
}

/** `Timeout`, or `Network: <code>` from the error's cause (ECONNREFUSED, ECONNRESET, …). */
function networkReason(err: unknown): string {
  const e = err as { name?: string; code?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'Timeout';
  return `Network: ${e.cause?.code ?? e.code ?? 'unknown'}`;
}
