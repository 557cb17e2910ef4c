/**
 * The APNs provider token: a JWT (ES256, header `kid` = key id, claims `iss` = team id and
 * `iat`) signed with the .p8 key, reused across pushes and renewed on Apple's schedule.
 *
 * Ours rather than apns2's because apns2 cannot keep Apple's lower bound: it drops its token
 * on every ExpiredProviderToken answer, so each late answer of a burst that carried the old
 * token throws away the token minted a moment before, and Apple answers a token that changes
 * more than once per 20 minutes with 429 TooManyProviderTokenUpdates.
 */
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';

/**
 * 50 min: APNs refuses a token older than 60 min (ExpiredProviderToken); renewing 10 min
 * early leaves room for our clock running behind Apple's.
 */
export const PROVIDER_TOKEN_MAX_AGE_MS = 50 * 60_000;
/** 20 min: Apple's documented floor between token updates (else TooManyProviderTokenUpdates). */
export const PROVIDER_TOKEN_MIN_REFRESH_MS = 20 * 60_000;

export interface ProviderTokenOptions {
  /** The .p8 key: PKCS#8 PEM of an EC P-256 private key. */
  readonly signingKey: string | KeyObject;
  readonly keyId: string;
  readonly teamId: string;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

/** What `refreshAfterExpired` did. */
export type ProviderTokenRefresh =
  /** A new token was minted: retry with it. */
  | 'refreshed'
  /** The refused token was already replaced (another push hit the same answer): retry. */
  | 'already-refreshed'
  /** The refused token is younger than 20 min: a new one would be refused too (clock?) and counts against Apple's limit. */
  | 'too-soon';

export class ProviderToken {
  readonly keyId: string;
  readonly teamId: string;
  readonly #key: KeyObject;
  readonly #now: () => number;
  #token: string | null = null;
  #issuedAt = 0;

  constructor(options: ProviderTokenOptions) {
    this.#key = typeof options.signingKey === 'string' ? createPrivateKey(options.signingKey) : options.signingKey;
    if (this.#key.asymmetricKeyType !== 'ec' || this.#key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new TypeError('the APNs signing key must be an EC P-256 private key (the .p8 file from Apple)');
    }
    if (options.keyId.length === 0 || options.teamId.length === 0) {
      throw new TypeError('the APNs key id and team id must not be empty');
    }
    this.keyId = options.keyId;
    this.teamId = options.teamId;
    this.#now = options.now ?? Date.now;
  }

  /** The token to send now; renewed once it is 50 minutes old. */
  current(): string {
    if (this.#token === null || this.#now() - this.#issuedAt >= PROVIDER_TOKEN_MAX_AGE_MS) {
      return this.#mint();
    }
    return this.#token;
  }

  /** When the current token was minted (ms), or null before the first. */
  get issuedAt(): number | null {
    return this.#token === null ? null : this.#issuedAt;
  }

  /** APNs answered ExpiredProviderToken to a request that carried `refused`. */
  refreshAfterExpired(refused: string): ProviderTokenRefresh {
    if (this.#token !== refused) {
      return 'already-refreshed';
    }
    if (this.#now() - this.#issuedAt < PROVIDER_TOKEN_MIN_REFRESH_MS) {
      return 'too-soon';
    }
    this.#mint();
    return 'refreshed';
  }

  #mint(): string {
    const now = this.#now();
    const header = base64url(JSON.stringify({ alg: 'ES256', kid: this.keyId }));
    const claims = base64url(JSON.stringify({ iss: this.teamId, iat: Math.floor(now / 1000) }));
    const input = `${header}.${claims}`;
    // JWS ES256 signatures are the raw r‖s pair (RFC 7518 §3.4), not DER.
    const signature = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    this.#token = `${input}.${signature.toString('base64url')}`;
    this.#issuedAt = now;
    return this.#token;
  }
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
