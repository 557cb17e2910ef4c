/**
 * The request target of an HTTP request, read without trusting it (SPEC EDGE-2). Node hands
 * `req.url` over as the client sent it: `//`, `http://[`, `*` and bad percent-escapes all
 * arrive here, and `new URL` or `decodeURIComponent` throw on some of them. Nothing in this
 * file throws.
 */
import { isAccountId } from '@badgesync/shared';

/** A request target split into its raw (still percent-encoded) path and query. */
export type Target =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly why: string };

/** `http://authority` or `https://authority` at the start of an absolute-form target. */
const ABSOLUTE = /^https?:\/\/([^/?#]*)/i;

/**
 * Splits a request target. Origin-form (`/path?query`) and absolute-form with an http(s)
 * scheme and a valid authority (which HTTP/1.1 servers must accept) give a path; anything
 * else — asterisk-form, a relative path, another scheme, a broken authority — does not.
 * Dot segments and empty segments are kept as they are: no route has them, so they are 404,
 * never resolved into another route's path.
 */
export function parseTarget(raw: string | undefined): Target {
  if (raw === undefined || raw === '') return { ok: false, why: 'an empty request target' };
  let rest = raw;
  if (!rest.startsWith('/')) {
    const absolute = ABSOLUTE.exec(rest);
    if (absolute === null) return { ok: false, why: 'the request target is neither a path nor an http(s) URL' };
    if (!isAuthority(absolute[1] as string)) return { ok: false, why: 'the request target has an invalid host' };
    rest = rest.slice(absolute[0].length);
    if (rest === '' || rest.startsWith('?')) rest = `/${rest}`;
    else if (!rest.startsWith('/')) return { ok: false, why: 'the request target has an invalid host' };
  }
  const hash = rest.indexOf('#');
  if (hash >= 0) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  return question < 0
    ? { ok: true, path: rest, query: '' }
    : { ok: true, path: rest.slice(0, question), query: rest.slice(question + 1) };
}

/** A host, optionally with a port: what `new URL` accepts, asked without letting it throw. */
function isAuthority(authority: string): boolean {
  if (authority === '' || authority.includes('@')) return false;
  try {
    return new URL(`http://${authority}/`).host !== '';
  } catch {
    return false;
  }
}

/**
 * One path segment holding an account or device ID, percent-decoded; null when it does not
 * decode (`%zz`, `%`, an overlong UTF-8 sequence) or is not a valid ID ([ID-1]). The dot
 * segments `.` and `..` match the ID pattern but are refused too: a proxy or client library
 * that normalises the path would send such a request somewhere else.
 */
export function decodeId(segment: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    return null;
  }
  if (decoded === '.' || decoded === '..') return null;
  return isAccountId(decoded) ? decoded : null;
}

/** The value of a query parameter (the sync token), or null. URLSearchParams never throws. */
export function queryParam(query: string, name: string): string | null {
  return new URLSearchParams(query).get(name);
}
