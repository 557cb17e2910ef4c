import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { decodeId, parseTarget, queryParam } from '../src/http/target.js';

describe('request targets', () => {
  test('[EDGE-2] origin-form and http(s) absolute-form give the raw path and query', () => {
    assert.deepEqual(parseTarget('/v1/sync/a?token=t'), { ok: true, path: '/v1/sync/a', query: 'token=t' });
    assert.deepEqual(parseTarget('//'), { ok: true, path: '//', query: '' });
    assert.deepEqual(parseTarget('/a#frag'), { ok: true, path: '/a', query: '' });
    assert.deepEqual(parseTarget('http://host/v1/x?q'), { ok: true, path: '/v1/x', query: 'q' });
    assert.deepEqual(parseTarget('HTTPS://host:8443'), { ok: true, path: '/', query: '' });
    assert.deepEqual(parseTarget('http://[::1]:80/healthz'), { ok: true, path: '/healthz', query: '' });
    assert.deepEqual(parseTarget('http://host?x=1'), { ok: true, path: '/', query: 'x=1' });
  });

  test('[EDGE-2] anything else is refused without a throw', () => {
    for (const raw of [
      undefined,
      '',
      '*',
      'http://[',
      'http://[/v1/sync/a',
      'http://',
      'http:///x',
      'http://host:99999/',
      'http://user@host/',
      'http://a b/',
      'ftp://host/',
      'v1/sync/a',
      '?token=x',
      '%zz',
    ]) {
      const target = parseTarget(raw);
      assert.equal(target.ok, false, JSON.stringify(raw));
    }
  });

  test('[EDGE-2] an ID segment decodes to a valid ID or to null, never a throw', () => {
    assert.equal(decodeId('alice'), 'alice');
    assert.equal(decodeId('a%40b'), 'a@b');
    assert.equal(decodeId('a%3Ab'), 'a:b');
    for (const bad of [
      '%zz',
      '%',
      '%E2%82',
      '%C0%AF',
      '%ED%A0%80',
      'a%2Fb',
      'a%00',
      '%252F',
      '.',
      '..',
      '%2e%2E',
      'a'.repeat(129),
      '',
    ]) {
      assert.equal(decodeId(bad), null, bad);
    }
  });

  test('[EDGE-2] a query parameter with a bad escape is read as it is', () => {
    assert.equal(queryParam('token=%zz', 'token'), '%zz');
    assert.equal(queryParam('a=1&token=x', 'token'), 'x');
    assert.equal(queryParam('', 'token'), null);
  });
});
