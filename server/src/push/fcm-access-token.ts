/**
 * OAuth 2.0 access tokens for FCM HTTP v1, from a service-account key (SPEC PUSH-15):
 * google-auth-library's JWT client signs the RS256 assertion (iss = the key's client_email,
 * aud = Google's token endpoint, scope = firebase.messaging) and trades it for an access
 * token, which it caches and renews before it expires.
 *
 * The library posts to Google's token endpoint, a constant it offers no option for; a key's
 * `token_uri` naming another endpoint (a test server, a private deployment) is honoured by
 * pointing the library's HTTP client there. The assertion's `aud` stays Google's endpoint,
 * which is what a token server checks.
 */
import { gaxios, JWT } from 'google-auth-library';

/** The fields of a service-account key file FCM needs. */
export interface ServiceAccountKey {
  readonly project_id: string;
  readonly client_email: string;
  readonly private_key: string;
  readonly private_key_id?: string;
  readonly token_uri?: string;
}

/** The scope FCM HTTP v1 requires of an access token. */
export const FCM_SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
/** Where google-auth-library posts the assertion (and what the assertion's `aud` names). */
export const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
/**
 * Renew a token 5 minutes before it expires (tokens last an hour): a push never goes out
 * with a token that expires on its way.
 */
const EAGER_REFRESH_MS = 5 * 60_000;
/** A token endpoint that does not answer in 10 s is down: the push is retried with backoff. */
const TOKEN_TIMEOUT_MS = 10_000;

/** Throws with the missing field's name when the key is not a service-account key. */
export function parseServiceAccountKey(json: string): ServiceAccountKey {
  const key = JSON.parse(json) as Record<string, unknown>;
  for (const field of ['project_id', 'client_email', 'private_key'] as const) {
    if (typeof key[field] !== 'string' || key[field] === '') {
      throw new Error(`the FCM service-account key has no ${field}`);
    }
  }
  return key as unknown as ServiceAccountKey;
}

export class FcmAccessToken {
  readonly #client: JWT;
  /** The token being fetched, shared by every push that asks meanwhile. */
  #pending: Promise<string> | null = null;

  constructor(key: ServiceAccountKey) {
    const transporter = new gaxios.Gaxios({ timeout: TOKEN_TIMEOUT_MS });
    const tokenUri = key.token_uri ?? GOOGLE_TOKEN_URI;
    if (tokenUri !== GOOGLE_TOKEN_URI) {
      transporter.interceptors.request.add({
        resolved: async (options) => {
          if (String(options.url) === GOOGLE_TOKEN_URI) options.url = new URL(tokenUri);
          return options;
        },
      });
    }
    this.#client = new JWT({
      email: key.client_email,
      key: key.private_key,
      scopes: [FCM_SCOPE],
      eagerRefreshThresholdMillis: EAGER_REFRESH_MS,
      transporter,
      ...(key.private_key_id === undefined ? {} : { keyId: key.private_key_id }),
    });
  }

  /** A valid access token: the cached one, or a new one (one fetch however many ask at once). */
  get(): Promise<string> {
    this.#pending ??= this.#fetch().finally(() => {
      this.#pending = null;
    });
    return this.#pending;
  }

  async #fetch(): Promise<string> {
    const { token } = await this.#client.getAccessToken();
    if (typeof token !== 'string' || token === '') throw new Error('the token endpoint answered no access token');
    return token;
  }

  /**
   * FCM answered 401 to `rejected`: the next `get` fetches a new token, unless another push
   * already replaced it (a burst of 401s renews the token once, not once per push).
   */
  invalidate(rejected: string): void {
    if (this.#client.credentials.access_token !== rejected) return;
    this.#client.setCredentials({ ...this.#client.credentials, access_token: null, expiry_date: 1 });
  }
}
