/**
 * The connection apns2 sends over. apns2 12 builds its undici Pool as `https://${host}:443`
 * with no port, TLS or timeout options, and it does not keep Apple's 20-minute floor between
 * provider tokens. `BADGESYNC_APNS_HOST=host:port` (tests, proxies) must still work, so this
 * module hands each `ApnsClient` a Pool of our own for `https://host:port` that:
 *
 * - trusts what Node trusts: the system store plus `NODE_EXTRA_CA_CERTS` (read by Node at
 *   process start; no CA option here, so tests run the sender in a child process);
 * - keeps one long-lived HTTP/2 connection per origin and pings it (Apple treats connection
 *   churn as abuse);
 * - times a request out (apns2 declares `requestTimeout` but never uses it);
 * - stamps every request with our `ProviderToken` instead of apns2's own.
 *
 * apns2 still builds requests, payloads and errors; only the Pool under it is ours.
 */
import { ApnsClient } from 'apns2';

/** Apple's hosts; `BADGESYNC_APNS_HOST` replaces both. */
export const ApnsHost = { production: 'api.push.apple.com', sandbox: 'api.sandbox.push.apple.com' } as const;
export const APNS_PORT = 443;

/**
 * 1 connection per origin: one HTTP/2 connection multiplexes far more badge pushes than a
 * single server produces, and every extra or re-opened connection is what Apple calls churn.
 */
export const APNS_CONNECTIONS_PER_ORIGIN = 1;
/**
 * 100 streams in flight per connection: bounds the memory and pending rows a stalled APNs
 * can hold up; APNs advertises its own limit in SETTINGS (1 until the first valid token) and
 * Node queues streams beyond it. Pushes past 100 wait in the Pool's queue.
 */
export const APNS_MAX_STREAMS_PER_CONNECTION = 100;
/**
 * 10 s to set up TCP + TLS: Apple's edge answers within a second from anywhere; longer means
 * an outage or a blocked network, and the push is better returned as `retry`.
 */
export const APNS_CONNECT_TIMEOUT_MS = 10_000;
/**
 * 60 s between HTTP/2 PINGs on an idle connection: notices a connection a NAT or firewall
 * dropped silently (many forget idle flows after 5 minutes) before a push is written into it,
 * and keeps such middleboxes from forgetting it; PING is Apple's documented health check.
 */
export const APNS_PING_INTERVAL_MS = 60_000;

export interface ApnsEndpoint {
  readonly hostname: string;
  readonly port: number;
}

/** `host`, `host:port`, `[v6]` or `[v6]:port` (the form of `BADGESYNC_APNS_HOST`). */
export function parseApnsHost(value: string): ApnsEndpoint {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(value.trim());
  const hostname = match?.[1] ?? match?.[2];
  const port = match?.[3] === undefined ? APNS_PORT : Number(match[3]);
  if (hostname === undefined || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new TypeError(`APNs host must be "host" or "host:port", got ${JSON.stringify(value)}`);
  }
  return { hostname, port };
}

export function apnsOrigin(endpoint: ApnsEndpoint): string {
  const host = endpoint.hostname.includes(':') ? `[${endpoint.hostname}]` : endpoint.hostname;
  return `https://${host}:${endpoint.port}`;
}

export interface ApnsClientOptions {
  readonly endpoint: ApnsEndpoint;
  readonly teamId: string;
  readonly keyId: string;
  /** The .p8 PEM. apns2 insists on signing its own token with it; the transport replaces that token. */
  readonly signingKey: string;
  /** The provider token for the next request (`ProviderToken.current`). */
  readonly authorization: () => string;
  /** Time to the response headers, then between body chunks. */
  readonly requestTimeoutMs: number;
}

/** An apns2 client whose requests go to `endpoint` over the Pool described above. */
export function createApnsClient(options: ApnsClientOptions): ApnsClient {
  const client = new ApnsClient({
    team: options.teamId,
    keyId: options.keyId,
    signingKey: options.signingKey,
    host: options.endpoint.hostname,
    // Turns off apns2's own 10-minute ping timer, which reads undici internals; the Pool
    // below pings by itself (APNS_PING_INTERVAL_MS). Connections stay open either way.
    keepAlive: false,
  });
  replacePool(client, (Pool) => {
    const pool = new Pool(apnsOrigin(options.endpoint), {
      connections: APNS_CONNECTIONS_PER_ORIGIN,
      pipelining: APNS_MAX_STREAMS_PER_CONNECTION,
      allowH2: true,
      connectTimeout: APNS_CONNECT_TIMEOUT_MS,
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
      pingInterval: APNS_PING_INTERVAL_MS,
    });
    stampAuthorization(pool, options.authorization);
    return pool;
  });
  return client;
}

/** apns2's Pool, typed through apns2's own declarations (undici is apns2's dependency, not ours). */
type UndiciPool = ApnsClient['client'];
type DispatchOptions = Parameters<UndiciPool['dispatch']>[0];

/** The subset of undici's Pool options this module sets. */
interface PoolOptions {
  readonly connections: number;
  readonly pipelining: number;
  readonly allowH2: boolean;
  readonly connectTimeout: number;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  readonly pingInterval: number;
}
type PoolConstructor = new (origin: string, options: PoolOptions) => UndiciPool;

/**
 * The one place that touches apns2 internals: the `client` field its constructor fills with
 * `new Pool('https://${host}:443', …)` and `send()` reads (`this.client.request(…)`). It is
 * declared `readonly` but is a plain own property, and no option reaches the Pool's
 * constructor, so it is swapped right after construction, before apns2 has used it (undici
 * connects lazily: the discarded Pool never opened a socket and holds no timer).
 *
 * The new Pool is built from the same class as apns2's: undici is a dependency of apns2 that
 * pnpm keeps private to it, so this both avoids a second copy and guarantees the class apns2
 * expects. If an apns2 upgrade renames the field, makes it private or stops using a Pool,
 * this throws at construction and apns-transport.test.ts fails.
 */
function replacePool(client: ApnsClient, build: (Pool: PoolConstructor) => UndiciPool): void {
  const descriptor = Object.getOwnPropertyDescriptor(client, 'client');
  const original: unknown = descriptor?.value;
  if (descriptor?.writable !== true || !isUndiciPool(original)) {
    throw new Error(
      'apns2 no longer keeps an undici Pool in `ApnsClient.client`: update server/src/push/apns-transport.ts',
    );
  }
  const pool = build(original.constructor as PoolConstructor);
  (client as { client: UndiciPool }).client = pool;
}

function isUndiciPool(value: unknown): value is UndiciPool {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const pool = value as Partial<Record<'request' | 'dispatch' | 'close', unknown>>;
  return (
    value.constructor.name === 'Pool' &&
    typeof pool.request === 'function' &&
    typeof pool.dispatch === 'function' &&
    typeof pool.close === 'function'
  );
}

/**
 * Overrides `dispatch` (undici's public Dispatcher entry point, which `request()` calls) on
 * our own Pool so each request carries `authorization()`. apns2 passes headers as a plain
 * object; any other shape means apns2 changed and is refused rather than sent unsigned.
 */
function stampAuthorization(pool: UndiciPool, authorization: () => string): void {
  const dispatch = pool.dispatch.bind(pool);
  pool.dispatch = (options, handler) =>
    dispatch({ ...options, headers: withAuthorization(options, authorization) }, handler);
}

function withAuthorization(options: DispatchOptions, authorization: () => string): Record<string, string | string[]> {
  const headers = options.headers;
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Array.isArray(headers) ||
    Object.getPrototypeOf(headers) !== Object.prototype
  ) {
    throw new TypeError(
      'apns2 passed request headers in an unexpected shape: update server/src/push/apns-transport.ts',
    );
  }
  const stamped: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (value !== undefined && name.toLowerCase() !== 'authorization') {
      stamped[name] = value;
    }
  }
  stamped.authorization = `bearer ${authorization()}`;
  return stamped;
}
