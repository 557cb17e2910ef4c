/**
 * Device tokens (SPEC AUTH-1..AUTH-4, AUTH-7, AUTH-8): JWT, HS256, signed with the device
 * secret; `sub` = account, `did` = device, `exp` required, `iat` (when present) an integer
 * not in the future. The app's backend mints them; so does `badgesync token` for local use.
 */

import { webcrypto } from 'node:crypto';
import { type AccountId, type DeviceId, isAccountId, isDeviceId } from '@badgesync/shared';
import { SignJWT } from 'jose';
import { verifyHs256Jwt } from './hs256-jwt.js';

export interface DeviceClaims {
  readonly account: AccountId;
  readonly device: DeviceId;
  /** Expiry, ms since epoch. */
  readonly expiresAt: number;
  /** `iat`, ms since epoch (a whole second); null when the token has none. */
  readonly issuedAt: number | null;
}

/**
 * [AUTH-7] How far ahead of the server's clock a token's `iat` may be. The backend that mints
 * tokens runs on other machines whose clocks drift; NTP keeps them within a second, so a
 * minute tolerates a badly kept clock without letting a token claim to be issued later than
 * it was (which would let it outlive a sign-out, AUTH-8) by more than that minute.
 */
export const MAX_IAT_SKEW_SECONDS = 60;

export type TokenCheck =
  | { readonly ok: true; readonly claims: DeviceClaims }
  | { readonly ok: false; readonly why: 'missing' | 'invalid' | 'expired' };

/**
 * The secret as a Web Crypto key for minting, made once per secret (jose imports raw bytes or a
 * KeyObject again on every call). Checks do not use it (hs256-jwt.ts). A zero-length secret is
 * refused by the import, as it was by jose's: none is minted.
 */
let lastKey: { readonly secret: string; readonly key: Promise<webcrypto.CryptoKey> } | null = null;

const HMAC_SHA256 = { name: 'HMAC', hash: 'SHA-256' } as const;

function key(secret: string): Promise<webcrypto.CryptoKey> {
  if (lastKey?.secret !== secret) {
    const bytes = Buffer.from(secret, 'utf8');
    lastKey = { secret, key: webcrypto.subtle.importKey('raw', bytes, HMAC_SHA256, false, ['sign', 'verify']) };
  }
  return lastKey.key;
}

/**
 * Verifies a device token: signature, algorithm, `exp` (required, in the future), `sub`,
 * `did`, and `iat` when present: an integer (a fractional `iat` would compare above the
 * second of a sign-out it was issued in) at most MAX_IAT_SKEW_SECONDS ahead of `now`.
 */
export async function verifyDeviceToken(
  token: string | null | undefined,
  secret: string,
  now: number = Date.now(),
): Promise<TokenCheck> {
  if (token === null || token === undefined || token === '') return { ok: false, why: 'missing' };
  // Checked on this turn (hs256-jwt.ts): no Web Crypto job per connection.
  const check = verifyHs256Jwt(token, secret, now);
  if (!check.ok) return check;
  const { payload } = check;
  const account = payload.sub;
  const device = payload.did;
  if (!isAccountId(account) || !isDeviceId(device) || typeof payload.exp !== 'number') {
    return { ok: false, why: 'invalid' };
  }
  const iat: unknown = payload.iat;
  if (iat !== undefined && !(Number.isSafeInteger(iat) && (iat as number) <= now / 1000 + MAX_IAT_SKEW_SECONDS)) {
    return { ok: false, why: 'invalid' };
  }
  const issuedAt = typeof iat === 'number' ? iat * 1000 : null;
  return { ok: true, claims: { account, device, expiresAt: payload.exp * 1000, issuedAt } };
}

/**
 * [AUTH-8] Whether a device's last sign-out of the account (at `revokedAt`, ms) revokes this
 * token: every token issued in or before that second (`iat` has second precision), and every
 * token without `iat`. Signing in again does not lift it: only tokens issued after it open.
 */
export function isRevoked(claims: DeviceClaims, revokedAt: number | null): boolean {
  if (revokedAt === null) return false;
  return claims.issuedAt === null || claims.issuedAt <= Math.floor(revokedAt / 1000) * 1000;
}

/** Mints a device token valid for `ttlSeconds`. */
export async function mintDeviceToken(
  secret: string,
  account: AccountId,
  device: DeviceId,
  ttlSeconds: number,
): Promise<string> {
  return new SignJWT({ did: device })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(account)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(await key(secret));
}
