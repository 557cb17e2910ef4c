/**
 * `PushSender` over APNs: apns2 builds the request, apns-transport.ts gives it the connection,
 * ProviderToken signs it. One apns2 client per environment, created on first use.
 */
import { type ApnsClient, ApnsError, Errors, Notification, Priority, PushType } from 'apns2';
import { resultOfApnsAnswer, resultOfTransportError, SENT } from './apns-results.js';
import { type ApnsEndpoint, ApnsHost, createApnsClient, parseApnsHost } from './apns-transport.js';
import { ProviderToken } from './provider-token.js';
import {
  type ApnsEnvironment,
  type BadgePush,
  checkBadgePush,
  type PushLog,
  type PushSender,
  SENDER_CLOSED,
  type SendResult,
} from './push-sender.js';

/**
 * 10 s for APNs to answer one push: it answers in well under a second; a stream silent for
 * 10 s is stuck, and returning `retry` lets the outbox try again instead of holding the push.
 * A timed-out push may still have reached Apple; sending the absolute badge again is harmless.
 */
export const DEFAULT_APNS_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Priority 10 (apns2 then leaves out `apns-priority`; 10 is APNs's default). Apple's rules:
 * 10 means deliver now and is for pushes that show an alert, play a sound or set a badge, so
 * a badge-only push qualifies; what may not use 10 is a push carrying only
 * `content-available` (a background push, which must use 5). Priority 5 lets APNs defer for
 * power: grouped, in bursts, throttled, "in some cases not delivered". A badge left wrong is
 * the very bug badgesync exists for, and the policy already sends at most one push per device
 * per coalescing window and only on change, so the volume 5 guards against never arises.
 * (Checked against the priority rules of Apple's Remote Notification Programming Guide and
 * the overview of "Sending notification requests to APNs", as stored copies; not against a
 * live APNs.)
 */
export const BADGE_PRIORITY = Priority.immediate;
/**
 * Expire after 28 days. A non-zero `apns-expiration` makes APNs store the push for an offline
 * device and retry until then (0 would mean now or never: wrong, offline devices are the only
 * ones we push). APNs stores one push per app for at most 30 days; ours is absolute and the
 * newest we sent, so longer is better: once it expires, a returning device shows the badge
 * it had when it went offline, which is older still. 28 days stays inside Apple's 30 with
 * room for clock skew.
 */
export const BADGE_STORE_FOR_MS = 28 * 24 * 60 * 60_000;
/**
 * One loud log line per reason per minute: a wrong key or an untrusted certificate fails
 * every push, and one line a minute (with a count) says so without drowning the log.
 */
export const LOUD_LOG_INTERVAL_MS = 60_000;

export interface ApnsSenderOptions {
  /** The .p8 key (PKCS#8 PEM text of `BADGESYNC_APNS_KEY_FILE`). */
  readonly signingKey: string;
  readonly keyId: string;
  readonly teamId: string;
  /** `BADGESYNC_APNS_HOST`: `host` or `host:port` replacing Apple's host for both environments. */
  readonly host?: string | null;
  readonly requestTimeoutMs?: number;
  /** Provider-token and TLS trust failures are logged here at `error`. */
  readonly log?: PushLog;
  /** Milliseconds since the epoch (token age, expiry); injectable for tests. */
  readonly now?: () => number;
}

/** The provider token APNs refused as expired; the sender renews it and tries once more. */
interface ExpiredProviderToken {
  readonly kind: 'expired-provider-token';
  readonly token: string;
}

export class ApnsSender implements PushSender {
  readonly #options: ApnsSenderOptions;
  readonly #tokens: ProviderToken;
  readonly #endpoints: Readonly<Record<ApnsEnvironment, ApnsEndpoint>>;
  readonly #clients = new Map<ApnsEnvironment, ApnsClient>();
  readonly #now: () => number;
  readonly #loud = new Map<string, { at: number; suppressed: number }>();
  #closed = false;

  constructor(options: ApnsSenderOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#tokens = new ProviderToken({
      signingKey: options.signingKey,
      keyId: options.keyId,
      teamId: options.teamId,
      now: this.#now,
    });
    const host = options.host ?? null;
    this.#endpoints = {
      production: parseApnsHost(host ?? ApnsHost.production),
      sandbox: parseApnsHost(host ?? ApnsHost.sandbox),
    };
  }

  async send(push: BadgePush): Promise<SendResult> {
    const malformed = checkBadgePush(push);
    if (malformed !== null) {
      return malformed;
    }
    const first = await this.#attempt(push);
    if (first.kind !== 'expired-provider-token') {
      return this.#reported(push, first);
    }
    const refresh = this.#tokens.refreshAfterExpired(first.token);
    if (refresh === 'too-soon') {
      return this.#reported(push, { kind: 'provider-token', reason: Errors.expiredProviderToken });
    }
    const second = await this.#attempt(push);
    if (second.kind === 'expired-provider-token') {
      return this.#reported(push, { kind: 'provider-token', reason: Errors.expiredProviderToken });
    }
    return this.#reported(push, second);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const clients = [...this.#clients.values()];
    this.#clients.clear();
    // apns2's close() closes our Pool, which lets requests in flight finish first.
    await Promise.all(clients.map((client) => client.close()));
  }

  async #attempt(push: BadgePush): Promise<SendResult | ExpiredProviderToken> {
    if (this.#closed) {
      return { kind: 'retry', reason: SENDER_CLOSED };
    }
    const client = this.#client(push.environment);
    // The token this request will carry: the transport reads `current()` again while apns2
    // dispatches in this same synchronous step, so both are the same token.
    const token = this.#tokens.current();
    const notification = new Notification(push.apnsToken, {
      type: PushType.alert,
      topic: push.topic,
      badge: push.badge,
      collapseId: push.collapseId,
      priority: BADGE_PRIORITY,
      expiration: Math.floor((this.#now() + BADGE_STORE_FOR_MS) / 1000),
    });
    try {
      await client.send(notification);
      return SENT;
    } catch (error) {
      if (!(error instanceof ApnsError)) {
        return resultOfTransportError(error);
      }
      if (error.reason === Errors.expiredProviderToken) {
        return { kind: 'expired-provider-token', token };
      }
      return resultOfApnsAnswer(error.statusCode, error.reason, error.timestamp);
    }
  }

  #client(environment: ApnsEnvironment): ApnsClient {
    let client = this.#clients.get(environment);
    if (client === undefined) {
      client = createApnsClient({
        endpoint: this.#endpoints[environment],
        teamId: this.#options.teamId,
        keyId: this.#options.keyId,
        signingKey: this.#options.signingKey,
        authorization: () => this.#tokens.current(),
        requestTimeoutMs: this.#options.requestTimeoutMs ?? DEFAULT_APNS_REQUEST_TIMEOUT_MS,
      });
      this.#clients.set(environment, client);
    }
    return client;
  }

  /** Results that mean "fix the deployment" are logged loudly here; the rest are the caller's. */
  #reported(push: BadgePush, result: SendResult): SendResult {
    if (result.kind === 'provider-token') {
      this.#loudly(`provider-token:${result.reason}`, push, result, providerTokenHint(result.reason));
    } else if (result.kind === 'retry' && result.reason.startsWith('TLS: ')) {
      this.#loudly(
        result.reason,
        push,
        result,
        'APNs presented a certificate this process does not trust; for a private CA set NODE_EXTRA_CA_CERTS before start',
      );
    } else if (result.kind === 'retry' && result.reason.startsWith('Unexpected: ')) {
      this.#loudly('unexpected', push, result, 'sending failed in an unexpected way (a bug, or an apns2 change?)');
    }
    return result;
  }

  #loudly(key: string, push: BadgePush, result: SendResult, message: string): void {
    const log = this.#options.log;
    if (log === undefined) {
      return;
    }
    const now = this.#now();
    const last = this.#loud.get(key);
    if (last !== undefined && now - last.at < LOUD_LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    this.#loud.set(key, { at: now, suppressed: 0 });
    const endpoint = this.#endpoints[push.environment];
    log(
      'error',
      {
        result,
        keyId: this.#options.keyId,
        teamId: this.#options.teamId,
        apnsHost: `${endpoint.hostname}:${endpoint.port}`,
        environment: push.environment,
        topic: push.topic,
        suppressedSinceLast: last?.suppressed ?? 0,
      },
      `APNs push not sent, kept pending: ${message}`,
    );
  }
}

function providerTokenHint(reason: string): string {
  if (reason === Errors.expiredProviderToken) {
    return 'APNs calls a provider token expired that is under 20 minutes old; check this server clock (NTP)';
  }
  return `APNs refused the provider token (${reason}); check BADGESYNC_APNS_KEY_FILE, BADGESYNC_APNS_KEY_ID and BADGESYNC_APNS_TEAM_ID`;
}
