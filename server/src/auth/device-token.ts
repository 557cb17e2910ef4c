/**
 * Device tokens (SPEC AUTH-1..AUTH-4): JWT, HS256, signed with the device secret; `sub` =
 * account, `did` = device, `exp` required. The app's backend mints them; so does
 * `badgesync token` for local use.
 */
import { type AccountId, type DeviceId, isAccountId, isDeviceId } from '@badgesync/shared';
import { errors, jwtVerify, SignJWT } from 'jose';

export interface DeviceClaims {
  readonly account: AccountId;
  readonly device: DeviceId;
  /** Expiry, ms since epoch. */
  readonly expiresAt: number;
  /** `iat`, ms since epoch; null when the token has none. */
  readonly issuedAt: number | null;
}

export type TokenCheck =
  | { readonly ok: true; readonly claims: DeviceClaims }
  | { readonly ok: false; readonly why: 'missing' | 'invalid' | 'expired' };

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

/** Verifies a device token: signature, algorithm, `exp` (required, in the future), `sub`, `did`. */
export async function verifyDeviceToken(token: string | null | undefined, secret: string): Promise<TokenCheck> {
  if (token === null || token === undefined || token === '') return { ok: false, why: 'missing' };
  try {
    const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], requiredClaims: ['exp', 'sub'] });
    const account = payload.sub;
    const device = payload.did;
    if (!isAccountId(account) || !isDeviceId(device) || typeof payload.exp !== 'number') {
      return { ok: false, why: 'invalid' };
    }
    const issuedAt = typeof payload.iat === 'number' ? payload.iat * 1000 : null;
    return { ok: true, claims: { account, device, expiresAt: payload.exp * 1000, issuedAt } };
  } catch (err) {
    if (err instanceof errors.JWTExpired) return { ok: false, why: 'expired' };
    return { ok: false, why: 'invalid' };
  }
}

/**
 * [AUTH-6] Whether a device's sign-out (at `revokedAt`, ms) revokes this token: every token
 * issued at or before it (second precision, as `iat` is), and tokens without `iat`.
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
    .sign(key(secret));
}
