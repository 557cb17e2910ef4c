/**
 * A compact JWT signed with HS256, checked on the caller's turn (SPEC AUTH-1): the checks jose's
 * `jwtVerify` makes with `algorithms: ['HS256']` and `requiredClaims: ['exp', 'sub']`, in its
 * order, with node:crypto's HMAC instead of Web Crypto. Web Crypto runs every HMAC as a job on
 * the thread pool and answers it on a later turn: after a restart, when every device reconnects
 * at once, each check handed the event loop's core to a pool thread and waited to get it back,
 * most of the wave's token-check time on a loaded machine. An HMAC of a token is microseconds.
 *
 * Stricter than jose only on malformed encodings: a part with padding, whitespace or another
 * character than base64url's is refused (jose's decoder skipped whitespace and took padding).
 * A signature-only check is never enough: the claims below are checked as jose checks them.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Hs256Check =
  | { readonly ok: true; readonly payload: Readonly<Record<string, unknown>> }
  | { readonly ok: false; readonly why: 'invalid' | 'expired' };

const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** An HMAC-SHA-256 is 32 bytes: 43 base64url characters, unpadded. */
const SIGNATURE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;
const INVALID: Hs256Check = { ok: false, why: 'invalid' };
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON object as jose takes it: not null, not an array. */
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A base64url part (no padding) as a JSON object, or null. */
function jsonPart(part: string): Record<string, unknown> | null {
  if (!BASE64URL.test(part) || part.length % 4 === 1) return null;
  try {
    const value: unknown = JSON.parse(strictUtf8.decode(Buffer.from(part, 'base64url')));
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * [AUTH-1] Header: a JSON object with `alg` HS256 (jose: `crit` may name only `b64`, which
 * must then be true). Signature: the HMAC of header.payload with `secret`, compared in
 * constant time. Claims: a JSON object with `exp` and `sub`; `iat` and `nbf`, when present,
 * numbers; `nbf` not after `now`; `exp` after `now` (seconds, `now` rounded down) or expired.
 */
export function verifyHs256Jwt(token: string, secret: string, now: number): Hs256Check {
  const parts = token.split('.');
  if (parts.length !== 3 || secret === '') return INVALID;
  const [encodedHeader, encodedPayload, signature] = parts as [string, string, string];
  const header = jsonPart(encodedHeader);
  if (header === null || header.alg !== 'HS256') return INVALID;
  if (header.crit !== undefined) {
    const crit = header.crit;
    if (!Array.isArray(crit) || crit.length === 0 || !crit.every((name) => name === 'b64')) return INVALID;
    if (header.b64 !== true) return INVALID;
  }
  if (!SIGNATURE.test(signature) || !BASE64URL.test(encodedPayload)) return INVALID;
  const expected = createHmac('sha256', secret).update(`${encodedHeader}.${encodedPayload}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'base64url'))) return INVALID;
  const payload = jsonPart(encodedPayload);
  if (payload === null || !Object.hasOwn(payload, 'sub') || !Object.hasOwn(payload, 'exp')) return INVALID;
  const seconds = Math.floor(now / 1000);
  const { iat, nbf, exp } = payload;
  if (iat !== undefined && typeof iat !== 'number') return INVALID;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > seconds)) return INVALID;
  if (typeof exp !== 'number') return INVALID;
  if (exp <= seconds) return { ok: false, why: 'expired' };
  return { ok: true, payload };
}
