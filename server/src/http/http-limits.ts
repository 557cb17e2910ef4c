/**
 * How long and how much the HTTP server waits for a client (SPEC EDGE-3): a slow-loris
 * client, which trickles a request out a byte at a time or opens sockets and says nothing,
 * holds a socket for seconds, not for ever. Upgraded sockets leave these limits behind; the
 * sync endpoint's heartbeats (SPEC SYNC-8) watch them instead.
 */
import type { IncomingMessage, ServerOptions } from 'node:http';

/**
 * 10 s from a connection's (or request's) first byte to the end of its headers. A real
 * client sends a few hundred bytes of request line and headers at once, even on a poor
 * mobile link; a client that has not finished by then is stalling on purpose. It also
 * closes a connection that sends nothing at all.
 */
export const HEADERS_TIMEOUT_MS = 10_000;

/**
 * 30 s for a whole request, body included. The largest body is 64 KiB: 30 s covers it at
 * about 2 KB/s, slower than any link that can hold a sync connection.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

/**
 * 65 s of idle time on a keep-alive connection between requests. Longer than the 60 s idle
 * timeout common to load balancers, so the server never closes a connection at the moment a
 * balancer reuses it (the balancer would answer 502); clients that pool connections read the
 * `Keep-Alive: timeout` hint Node sends. An idle socket holds no parser state, only a file
 * descriptor.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * 16 KiB of request line and headers (Node's default, kept on purpose): a device token in
 * the query or the Authorization header is under 1 KiB, and a browser's cookies fit. More is
 * answered `431 headers_too_large` before any of it reaches a handler.
 */
export const MAX_HEADER_BYTES = 16 * 1024;

/** At most 100 header lines are kept per request (Node keeps 2,000); the contract reads five. */
export const MAX_HEADERS_COUNT = 100;

/**
 * How often Node checks the two timeouts above: every 2 s, so a stalled request is cut within
 * 2 s of its limit rather than up to 30 s (Node's default interval) after it.
 */
const TIMEOUT_CHECK_INTERVAL_MS = 2_000;

/**
 * Options of `http.createServer`. `server.timeout` (socket inactivity) stays 0: the limits
 * above cover a socket before and between requests, and a request waiting for its write to
 * reach disk must not be cut for being quiet.
 */
export const HTTP_SERVER_OPTIONS: ServerOptions = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  maxHeaderSize: MAX_HEADER_BYTES,
  connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  // Node's own answer to a missing Host is a bare 400; `missingHost` answers it in the
  // contract's shape instead, on requests and upgrades alike.
  requireHostHeader: false,
};

/** Why a request breaks HTTP/1.1's one rule Node no longer checks for us, or null. */
export function missingHost(req: IncomingMessage): string | null {
  return req.httpVersion === '1.1' && req.headers.host === undefined ? 'HTTP/1.1 requires a Host header' : null;
}
