/** Device tokens' `iat` and revocation (SPEC AUTH-7, AUTH-8), checked without a server. */
import assert from 'node:assert/strict';
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { SignJWT } from 'jose';
import { describe, test } from 'vitest';
import { isRevoked, MAX_IAT_SKEW_SECONDS, verifyDeviceToken } from '../src/auth/device-token.js';

const SECRET = 'device-secret-for-tests';
const NOW = 1_700_000_000_000;
const NOW_S = NOW / 1000;
const A = parseAccountId('alice');
const PHONE = parseDeviceId('phone');

function sign(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ sub: A, did: PHONE, exp: NOW_S + 3600, ...claims })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(SECRET));
}

async function why(claims: Record<string, unknown>): Promise<string> {
  const check = await verifyDeviceToken(await sign(claims), SECRET, NOW);
  return check.ok ? 'ok' : check.why;
}

describe('device tokens: iat and revocation', () => {
  test('[AUTH-7] iat must be a whole number of seconds', async () => {
    assert.equal(await why({ iat: NOW_S - 10 }), 'ok');
    assert.equal(await why({ iat: NOW_S - 10.5 }), 'invalid', 'a fractional iat');
    assert.equal(await why({ iat: '1700000000' }), 'invalid', 'a string iat');
    assert.equal(await why({}), 'ok', 'no iat: accepted, and older than any sign-out');
  });

  test('[AUTH-7] iat may be at most the stated clock skew ahead of the server', async () => {
    assert.equal(await why({ iat: NOW_S + MAX_IAT_SKEW_SECONDS }), 'ok');
    assert.equal(await why({ iat: NOW_S + MAX_IAT_SKEW_SECONDS + 1 }), 'invalid');
    assert.equal(await why({ iat: NOW_S + 365 * 24 * 3600 }), 'invalid', 'a year ahead');
  });

  test('[AUTH-8] a sign-out revokes tokens issued in or before its second, for good; later ones open', async () => {
    const claims = async (iat: number | undefined) => {
      const check = await verifyDeviceToken(await sign(iat === undefined ? {} : { iat }), SECRET, NOW);
      assert.ok(check.ok);
      return check.claims;
    };
    const signOut = (NOW_S - 100) * 1000 + 999; // the last millisecond of second NOW_S − 100
    assert.equal(isRevoked(await claims(NOW_S - 101), signOut), true);
    assert.equal(isRevoked(await claims(NOW_S - 100), signOut), true, 'issued in the second of the sign-out');
    assert.equal(isRevoked(await claims(NOW_S - 99), signOut), false, 'issued after it');
    assert.equal(isRevoked(await claims(undefined), signOut), true, 'no iat counts as older');
    assert.equal(isRevoked(await claims(NOW_S - 101), null), false, 'never signed out');
  });
});
