/**
 * [AUTH-1] The device token check on the caller's turn (hs256-jwt.ts) against jose's `jwtVerify`
 * as the oracle: on every well-formed compact token — any header, any claims, a right, wrong or
 * altered signature — both accept the same tokens with the same claims, and refuse the rest
 * the same way (`expired` where jose throws JWTExpired, `invalid` otherwise). [AUTH-9] What it
 * refuses beyond jose: encodings no JWT library writes (padding, whitespace, a signature's
 * non-canonical last character).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { errors, jwtVerify } from 'jose';
import { describe, test } from 'vitest';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import { verifyHs256Jwt } from '../src/auth/hs256-jwt.js';

const SECRET = 'device-secret-for-tests';
const NOW = 1_700_000_000_500;
const NOW_S = Math.floor(NOW / 1000);

const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64url');
const mac = (input: string, secret: string): string => createHmac('sha256', secret).update(input).digest('base64url');

async function oracle(token: string, secret: string): Promise<unknown> {
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      requiredClaims: ['exp', 'sub'],
      currentDate: new Date(NOW),
    });
    return { ok: true, payload };
  } catch (err) {
    return { ok: false, why: err instanceof errors.JWTExpired ? 'expired' : 'invalid' };
  }
}

const mine = (token: string, secret: string): unknown => {
  const check = verifyHs256Jwt(token, secret, NOW);
  return check.ok ? { ok: true, payload: { ...check.payload } } : check;
};

const time = fc.oneof(
  fc.integer({ min: NOW_S - 3, max: NOW_S + 3 }),
  fc.double({ min: NOW_S - 3, max: NOW_S + 3, noNaN: true }),
  fc.constantFrom<unknown>('1700000000', null, true, [NOW_S + 10], { at: NOW_S }),
);
const claims = fc.record(
  {
    sub: fc.oneof(fc.constantFrom('alice', 'bob', ''), fc.integer()),
    did: fc.constantFrom('phone', '@server', 7),
    exp: time,
    iat: time,
    nbf: time,
    aud: fc.string(),
  },
  { requiredKeys: [] },
);
/** Headers jose refuses or takes for a reason of their own (algorithm, `crit`, `b64`, shape). */
const HEADERS: readonly unknown[] = [
  { alg: 'HS384' },
  { alg: 'none' },
  { alg: 'hs256' },
  { alg: '' },
  { typ: 'JWT' },
  { alg: ['HS256'] },
  { alg: 'HS256', crit: ['b64'], b64: true },
  { alg: 'HS256', crit: ['b64', 'b64'], b64: true },
  { alg: 'HS256', crit: ['b64'], b64: false },
  { alg: 'HS256', crit: ['b64'], b64: 'yes' },
  { alg: 'HS256', crit: ['b64'] },
  { alg: 'HS256', crit: ['exp'] },
  { alg: 'HS256', crit: [] },
  { alg: 'HS256', crit: [], b64: true },
  { alg: 'HS256', crit: [''] },
  { alg: 'HS256', crit: 'b64', b64: true },
  { alg: 'HS256', b64: false },
  ['HS256'],
  null,
];
const header = fc.oneof(
  fc.constant<unknown>({ alg: 'HS256', typ: 'JWT' }),
  fc.constant<unknown>({ alg: 'HS256' }),
  fc.constantFrom(...HEADERS),
);
/** Encoded header and payload text: JSON, or something else (not JSON, not an object, not UTF-8). */
const part = (json: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 8, arbitrary: json.map((value) => b64(JSON.stringify(value))) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(b64('not json'), b64('[]'), b64('"x"'), b64(Buffer.from([0xff, 0xfe])), ''),
    },
  );

describe('device tokens: the HS256 check on the caller’s turn', () => {
  test('[AUTH-1] accepts and refuses exactly what jose does, with the same claims', async () => {
    await fc.assert(
      fc.asyncProperty(
        part(header),
        part(claims),
        fc.constantFrom('right', 'other secret', 'altered', 'truncated', 'none', 'extra part'),
        async (h, p, signature) => {
          const input = `${h}.${p}`;
          const right = mac(input, SECRET);
          const token = {
            right: `${input}.${right}`,
            'other secret': `${input}.${mac(input, 'another-secret')}`,
            altered: `${input}.${right[0] === 'A' ? 'B' : 'A'}${right.slice(1)}`,
            truncated: `${input}.${right.slice(0, 40)}`,
            none: `${input}.`,
            'extra part': `${input}.${right}.${right}`,
          }[signature];
          assert.deepEqual(mine(token, SECRET), await oracle(token, SECRET));
        },
      ),
      propertyParams('hs256 vs jose', 3_000),
    );
  });

  test('[AUTH-1] every header case on a valid signature and claims, as jose reads it', async () => {
    const claimsSet = b64(JSON.stringify({ sub: 'alice', did: 'phone', exp: NOW_S + 60 }));
    for (const h of [{ alg: 'HS256' }, ...HEADERS]) {
      const input = `${b64(JSON.stringify(h))}.${claimsSet}`;
      const token = `${input}.${mac(input, SECRET)}`;
      assert.deepEqual(mine(token, SECRET), await oracle(token, SECRET), JSON.stringify(h));
    }
  });

  test('[AUTH-1] exp, nbf and iat at the second boundaries, as jose reads them', async () => {
    const at = (claimsSet: Record<string, unknown>) => {
      const input = `${b64(JSON.stringify({ alg: 'HS256' }))}.${b64(JSON.stringify({ sub: 'alice', ...claimsSet }))}`;
      return `${input}.${mac(input, SECRET)}`;
    };
    for (const claimsSet of [
      { exp: NOW_S },
      { exp: NOW_S + 0.5 },
      { exp: NOW_S + 1 },
      { exp: NOW_S + 1, nbf: NOW_S },
      { exp: NOW_S + 1, nbf: NOW_S + 0.4 },
      { exp: NOW_S + 1, nbf: NOW_S + 1 },
      { exp: NOW_S + 1, iat: NOW_S + 1_000 },
    ]) {
      assert.deepEqual(mine(at(claimsSet), SECRET), await oracle(at(claimsSet), SECRET), JSON.stringify(claimsSet));
    }
  });

  test('[AUTH-9] a token encoded as no JWT library writes it is refused: padding, whitespace, a loose last character', async () => {
    const input = `${b64(JSON.stringify({ alg: 'HS256' }))}.${b64(JSON.stringify({ sub: 'alice', exp: NOW_S + 60 }))}`;
    const signature = mac(input, SECRET);
    assert.equal(verifyHs256Jwt(`${input}.${signature}`, SECRET, NOW).ok, true);
    const last = signature.at(-1) as string;
    const loose = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // The same 32 bytes under another last character (its two unused bits set): jose took it.
    const sibling = loose[loose.indexOf(last) + 1] as string;
    for (const token of [
      `${input}.${signature}=`,
      `${input}.${signature.slice(0, 20)} ${signature.slice(20)}`,
      `${input}.${signature.slice(0, -1)}${sibling}`,
      `${input.replace('.', '=.')}.${signature}`,
    ]) {
      assert.deepEqual(verifyHs256Jwt(token, SECRET, NOW), { ok: false, why: 'invalid' }, token);
    }
  });

  test('[AUTH-1] an empty secret checks no token, as jose refused the empty key', () => {
    const input = `${b64(JSON.stringify({ alg: 'HS256' }))}.${b64(JSON.stringify({ sub: 'alice', exp: NOW_S + 60 }))}`;
    assert.deepEqual(verifyHs256Jwt(`${input}.${mac(input, '')}`, '', NOW), { ok: false, why: 'invalid' });
  });
});
