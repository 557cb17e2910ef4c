/** Where one server's sync and HTTP endpoints are, derived from the URL the app gives. */
export interface Endpoints {
  /** The WebSocket URL of an account's document, token in the query (browsers cannot set headers). */
  sync(account: string, token: string): string;
  /** The http(s) base of the backend API, no trailing slash. */
  readonly http: string;
}

const SYNC_SUFFIX = /\/v1\/sync\/?$/;

/**
 * `serverUrl` is `ws(s)://host:port` (optionally with a path prefix, or the stock
 * provider's `…/v1/sync`); `httpUrl` overrides the derived `http(s)://` base, for servers
 * whose API sits behind another origin.
 */
export function endpoints(serverUrl: string, httpUrl?: string): Endpoints {
  const url = new URL(serverUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError(`serverUrl must be ws:// or wss://, got ${serverUrl}`);
  }
  const prefix = url.pathname.replace(SYNC_SUFFIX, '').replace(/\/+$/, '');
  const origin = `${url.protocol}//${url.host}${prefix}`;
  const http = httpUrl ?? `${url.protocol === 'wss:' ? 'https:' : 'http:'}//${url.host}${prefix}`;
  return {
    sync: (account, token) => `${origin}/v1/sync/${encodeURIComponent(account)}?token=${encodeURIComponent(token)}`,
    http: http.replace(/\/+$/, ''),
  };
}
