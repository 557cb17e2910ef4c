import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, test } from 'vitest';
import { PROVIDER_TOKEN_MAX_AGE_MS, PROVIDER_TOKEN_MIN_REFRESH_MS, ProviderToken } from '../src/push/provider-token.js';

const MINUTE = 60_000;

function fixture(start = 1_800_000_000_000) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const clock = { now: start };
  const tokens = new ProviderToken({
    signingKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    keyId: 'ABCDE12345',
    teamId: 'TEAM123456',
    now: () => clock.now,
  });
  return { tokens, publicKey, clock };
}

function decode(token: string) {
  const [header, claims, signature] = token.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(claims, 'base64url').toString()) as Record<string, unknown>,
    signed: Buffer.from(`${header}.${claims}`),
    signature: Buffer.from(signature, 'base64url'),
  };
}

describe('ProviderToken', () => {
  test('an ES256 JWT: kid in the header, iss and iat (seconds) in the claims, raw r‖s signature', () => {
    const { tokens, publicKey, clock } = fixture(1_800_000_000_999);
    const jwt = decode(tokens.current());
    assert.deepEqual(jwt.header, { alg: 'ES256', kid: 'ABCDE12345' });
    assert.deepEqual(jwt.claims, { iss: 'TEAM123456', iat: Math.floor(clock.now / 1000) });
    assert.equal(jwt.signature.length, 64);
    assert.ok(verify('sha256', jwt.signed, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jwt.signature));
  });

  test(`is reused for ${PROVIDER_TOKEN_MAX_AGE_MS / MINUTE} minutes, then renewed`, () => {
    const { tokens, clock } = fixture();
    const first = tokens.current();
    clock.now += PROVIDER_TOKEN_MAX_AGE_MS - 1;
    assert.equal(tokens.current(), first);
    clock.now += 1;
    const second = tokens.current();
    assert.notEqual(second, first);
    assert.equal(tokens.issuedAt, clock.now);
    // Renewed before Apple's hour is up, and never more often than Apple's 20 minutes.
    assert.ok(PROVIDER_TOKEN_MAX_AGE_MS < 60 * MINUTE);
    assert.ok(PROVIDER_TOKEN_MAX_AGE_MS >= PROVIDER_TOKEN_MIN_REFRESH_MS);
  });

  test('after ExpiredProviderToken: a token 20 minutes old or more is renewed', () => {
    const { tokens, clock } = fixture();
    const refused = tokens.current();
    clock.now += PROVIDER_TOKEN_MIN_REFRESH_MS;
    assert.equal(tokens.refreshAfterExpired(refused), 'refreshed');
    assert.notEqual(tokens.current(), refused);
    assert.equal(tokens.issuedAt, clock.now);
  });

  test('after ExpiredProviderToken: a token under 20 minutes old is kept (a new one would be refused too)', () => {
    const { tokens, clock } = fixture();
    const refused = tokens.current();
    clock.now += PROVIDER_TOKEN_MIN_REFRESH_MS - 1;
    assert.equal(tokens.refreshAfterExpired(refused), 'too-soon');
    assert.equal(tokens.current(), refused);
  });

  test('a burst of answers refusing the same token renews it once', () => {
    const { tokens, clock } = fixture();
    const refused = tokens.current();
    clock.now += 30 * MINUTE;
    const outcomes = Array.from({ length: 10 }, () => tokens.refreshAfterExpired(refused));
    assert.deepEqual(outcomes, ['refreshed', ...Array(9).fill('already-refreshed')]);
    const renewed = tokens.current();
    clock.now += MINUTE;
    assert.equal(tokens.refreshAfterExpired(refused), 'already-refreshed');
    assert.equal(tokens.current(), renewed);
  });

  test('refuses a key that is not EC P-256, and empty ids', () => {
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    for (const signingKey of [p384, rsa]) {
      assert.throws(() => new ProviderToken({ signingKey, keyId: 'K', teamId: 'T' }), /EC P-256/);
    }
    assert.throws(() => new ProviderToken({ signingKey: 'not a pem', keyId: 'K', teamId: 'T' }));
    assert.throws(() => new ProviderToken({ signingKey: p256, keyId: '', teamId: 'T' }), /must not be empty/);
    assert.throws(() => new ProviderToken({ signingKey: p256, keyId: 'K', teamId: '' }), /must not be empty/);
  });
});
