import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { endpoints } from '../src/endpoints.js';
import { isExpired, TokenSource, TokenUnavailableError, tokenExpiry } from '../src/token-source.js';

/** An unsigned JWT with these claims (the SDK reads `exp`, it never verifies). */
function jwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}.signature`;
}

describe('TokenSource', () => {
  const now = 1_700_000_000_000;

  test('reads exp from a JWT; unreadable tokens have none', () => {
    assert.equal(tokenExpiry(jwt({ sub: 'a', did: 'd', exp: 1_700_000_100 })), 1_700_000_100);
    assert.equal(tokenExpiry('not-a-jwt'), null);
    assert.equal(tokenExpiry('a.%%%.c'), null);
    assert.equal(isExpired(jwt({ exp: now / 1000 }), now), true);
    assert.equal(isExpired(jwt({ exp: now / 1000 + 1 }), now), false);
  });

  test('[SDK-3] a fixed token is used until it expires, then there is none', async () => {
    const token = jwt({ exp: now / 1000 + 60 });
    const source = new TokenSource({ token });
    assert.equal(await source.current(now), token);
    await assert.rejects(source.current(now + 61_000), TokenUnavailableError);
    source.invalidate();
    await assert.rejects(source.current(now), TokenUnavailableError);
  });

  test('[SDK-3] getToken is called when there is no token, when it expired, and after invalidate()', async () => {
    let calls = 0;
    const source = new TokenSource({ getToken: async () => jwt({ exp: now / 1000 + 60, n: ++calls }) });
    await source.current(now);
    await source.current(now + 1_000);
    assert.equal(calls, 1, 'cached');
    await source.current(now + 60_000);
    assert.equal(calls, 2, 'expired');
    source.invalidate();
    await source.current(now + 60_000);
    assert.equal(calls, 3, 'refused');
  });

  test('a token getToken returned is used even if it is short-lived (no refresh loop)', async () => {
    let calls = 0;
    const source = new TokenSource({ getToken: () => jwt({ exp: now / 1000 + 2, n: ++calls }) });
    await source.current(now);
    await source.current(now + 1_000);
    assert.equal(calls, 1);
  });

  test('needs a token or getToken; getToken must return a string', async () => {
    assert.throws(() => new TokenSource({}), TypeError);
    await assert.rejects(new TokenSource({ getToken: () => '' }).current(), TypeError);
  });
});

describe('endpoints', () => {
  test('sync and http URLs from ws:// and wss:// server URLs', () => {
    const local = endpoints('ws://127.0.0.1:8080');
    assert.equal(local.sync('alice', 'a.b.c'), 'ws://127.0.0.1:8080/v1/sync/alice?token=a.b.c');
    assert.equal(local.http, 'http://127.0.0.1:8080');
    const prod = endpoints('wss://example.com/badgesync/');
    assert.equal(prod.sync('a:b', 't+/'), 'wss://example.com/badgesync/v1/sync/a%3Ab?token=t%2B%2F');
    assert.equal(prod.http, 'https://example.com/badgesync');
  });

  test('a stock provider style URL (…/v1/sync) and an explicit httpUrl are accepted', () => {
    const stock = endpoints('ws://host:1/v1/sync', 'https://api.example.com/');
    assert.equal(stock.sync('x', 't'), 'ws://host:1/v1/sync/x?token=t');
    assert.equal(stock.http, 'https://api.example.com');
  });

  test('refuses other schemes', () => {
    assert.throws(() => endpoints('ftp://host'), TypeError);
  });
});
