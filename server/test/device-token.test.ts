/** Device tokens' `iat`, revocation and signing key (SPEC AUTH-1, AUTH-7, AUTH-8), checked without a server. */
import assert from 'node:assert/strict';
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { SignJWT } from 'jose';
import { describe, test } from 'vitest';
import { isRevoked, MAX_IAT_SKEW_SECONDS, mintDeviceToken, verifyDeviceToken } from '../src/auth/device-token.js';

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

  test('[AUTH-1] the key made once per secret checks with that secret only, also when the secret changes', async () => {
    // The key is kept between checks (device-token.ts): a token of one secret must not pass
    // under another, in either order, nor a token that was altered after signing.
    const other = 'another-device-secret';
    const token = await sign({});
    assert.equal((await verifyDeviceToken(token, SECRET, NOW)).ok, true);
    assert.deepEqual(await verifyDeviceToken(token, other, NOW), { ok: false, why: 'invalid' });
    assert.equal((await verifyDeviceToken(token, SECRET, NOW)).ok, true, 'the first secret again');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ sub: A, did: 'laptop', exp: NOW_S + 3600 })).toString('base64url');
    assert.deepEqual(await verifyDeviceToken(`${header}.${forged}.${signature}`, SECRET, NOW), {
      ok: false,
      why: 'invalid',
    });
    assert.deepEqual(await verifyDeviceToken(`${header}.${payload}.`, SECRET, NOW), { ok: false, why: 'invalid' });
    const none = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
    assert.deepEqual(await verifyDeviceToken(`${none}.${payload}.`, SECRET, NOW), { ok: false, why: 'invalid' });
    // What the server mints (`badgesync token`) is what it accepts, under either secret.
    for (const secret of [other, SECRET]) {
      const minted = await mintDeviceToken(secret, A, PHONE, 60);
      const check = await verifyDeviceToken(minted, secret);
      assert.ok(check.ok);
      assert.equal(check.claims.device, PHONE);
      assert.equal((await verifyDeviceToken(minted, secret === SECRET ? other : SECRET)).ok, false);
    }
  });

  test('[AUTH-1] an empty device secret checks no token and mints none, as before the key was kept', async () => {
    await assert.rejects(mintDeviceToken('', A, PHONE, 60));
    assert.deepEqual(await verifyDeviceToken(await sign({}), '', NOW), { ok: false, why: 'invalid' });
    assert.equal((await verifyDeviceToken(await sign({}), SECRET, NOW)).ok, true, 'the kept key is not the empty one');
  });
});
