import type { IncomingMessage } from 'node:http';

/**
 * CORS for the device routes (SPEC API-10, API-11): a page on an allowed origin may call
 * `PUT`/`DELETE /v1/accounts/{a}/devices/{d}` with its device token. The API-key routes
 * never answer a browser origin.
 */

/** The only request headers a page needs: its device token and the JSON body's type. */
const ALLOWED_REQUEST_HEADERS = ['authorization', 'content-type'] as const;

/**
 * How long a browser may reuse a preflight answer: 10 minutes spares a page one round trip
 * per call, while a change of BADGESYNC_CORS_ORIGINS reaches every browser soon after.
 */
export const PREFLIGHT_MAX_AGE_S = 600;

export type Headers = Readonly<Record<string, string | number>>;

/** Headers of an actual response of a device route: the origin is echoed only when allowed. */
export function corsResponseHeaders(req: IncomingMessage, allowed: ReadonlySet<string>): Headers {
  const origin = req.headers.origin;
  if (origin === undefined || !allowed.has(origin)) return { vary: 'Origin' };
  return { 'access-control-allow-origin': origin, vary: 'Origin' };
}

export type Preflight =
  /** Not a preflight (no Origin or no Access-Control-Request-Method): a plain OPTIONS. */
  | { readonly kind: 'plain' }
  | { readonly kind: 'allowed'; readonly headers: Headers }
  | { readonly kind: 'refused'; readonly why: string };

/** Answers a preflight for a device route that accepts `methods`. */
export function preflight(req: IncomingMessage, methods: readonly string[], allowed: ReadonlySet<string>): Preflight {
  const origin = req.headers.origin;
  const method = req.headers['access-control-request-method'];
  if (origin === undefined || method === undefined) return { kind: 'plain' };
  if (!allowed.has(origin)) return { kind: 'refused', why: 'this origin may not call the device routes' };
  if (!methods.includes(method)) return { kind: 'refused', why: `${method} is not a device route` };
  const asked = (req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  const extra = asked.filter((h) => !(ALLOWED_REQUEST_HEADERS as readonly string[]).includes(h));
  if (extra.length > 0) return { kind: 'refused', why: `request headers not allowed: ${extra.join(', ')}` };
  return {
    kind: 'allowed',
    headers: {
      'access-control-allow-origin': origin,
      'access-control-allow-methods': methods.join(', '),
      'access-control-allow-headers': ALLOWED_REQUEST_HEADERS.join(', '),
      'access-control-max-age': PREFLIGHT_MAX_AGE_S,
      vary: 'Origin',
    },
  };
}
