/** How the SDK gets a device token for one account. */
export interface Credentials {
  /** A device token (JWT from the app's backend). Used until it expires or the server says 4401. */
  readonly token?: string;
  /**
   * Fetches a fresh device token from the app's backend. Called when there is no token yet,
   * when the current one has expired (by its `exp`), after a close with 4401, and after a
   * connection attempt that failed before opening (an expired or revoked token is refused
   * with HTTP 401 before the upgrade, which a WebSocket reports like a network error).
   */
  readonly getToken?: () => string | Promise<string>;
}

/** No usable token and no way to get one: the app must sign in again. */
export class TokenUnavailableError extends Error {
  override readonly name = 'TokenUnavailableError';
}

/**
 * The current device token of one account: cached, refreshed through `getToken` when it
 * expired or was refused. The token's `exp` is read (not verified: that is the server's
 * job) so an expired token is not sent at all.
 */
export class TokenSource {
  #token: string | null;
  #getToken: (() => string | Promise<string>) | null;
  #stale = false;

  constructor(credentials: Credentials) {
    this.#token = credentials.token ?? null;
    this.#getToken = credentials.getToken ?? null;
    if (this.#token === null && this.#getToken === null) {
      throw new TypeError('signIn needs a token or a getToken callback');
    }
  }

  /** Whether a refused token can be replaced without the app's help. */
  get canRefresh(): boolean {
    return this.#getToken !== null;
  }

  /** Replaces the credentials (a new sign-in of the same account). */
  replace(credentials: Credentials): void {
    const next = new TokenSource(credentials);
    this.#token = next.#token;
    this.#getToken = next.#getToken;
    this.#stale = false;
  }

  /** Marks the current token as refused: the next `current()` fetches a new one when it can. */
  invalidate(): void {
    this.#stale = true;
  }

  /** A token to connect with; throws TokenUnavailableError when none can be had. */
  async current(now = Date.now()): Promise<string> {
    const token = this.#token;
    if (token !== null && !this.#stale && !isExpired(token, now)) return token;
    if (this.#getToken === null) {
      throw new TokenUnavailableError(
        token === null ? 'no device token' : 'the device token expired or was refused; sign in again',
      );
    }
    const fresh = await this.#getToken();
    if (typeof fresh !== 'string' || fresh === '') throw new TypeError('getToken must return a non-empty string');
    this.#token = fresh;
    this.#stale = false;
    return fresh;
  }
}

/** Whether a JWT's `exp` (seconds) is at or before `now` (ms). Unreadable tokens count as unexpired. */
export function isExpired(token: string, now: number): boolean {
  const exp = tokenExpiry(token);
  return exp !== null && exp * 1000 <= now;
}

/** The `exp` claim of a JWT, or null when it cannot be read. */
export function tokenExpiry(token: string): number | null {
  const payload = token.split('.')[1];
  if (payload === undefined) return null;
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '='))) as unknown;
    const exp = (json as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : null;
  } catch {
    return null;
  }
}
