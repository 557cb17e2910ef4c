/**
 * What a stranger on the network can send: a corpus of malformed, odd and hostile requests
 * over raw TCP to the real server process — bad escapes, odd paths, absolute and asterisk
 * targets, unknown methods, header junk, truncated and pipelined requests, huge headers,
 * HTTP/0.9 and HTTP/2, broken upgrades, bad JSON — with and without valid credentials. Each
 * is answered 4xx or closed, never 5xx and never left hanging; `/healthz` answers 200 after
 * each; and a stock y-websocket device of another account keeps receiving its updates.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { headOf } from '../helpers/entries.js';
import { connectDevice, type Device, synced, waitFor } from '../helpers/providers.js';
import { type RawAnswer, rawExchange, request, upgradeHeaders } from '../helpers/raw-http.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

interface Credentials {
  readonly apiKey: string;
  /** A valid device token for account `victim`, device `mallory`. */
  readonly token: string;
  /** A valid token for another account than the path's. */
  readonly otherToken: string;
  readonly expiredToken: string;
}

interface Case {
  readonly name: string;
  readonly parts: (c: Credentials) => ReadonlyArray<string | Buffer>;
  /** The statuses expected, in order; without it: every final status is 4xx, or none at all (closed). */
  readonly expect?: readonly number[];
  /** The error code of the first answer. */
  readonly code?: string;
  /** Close our side after the last byte (a truncated request); otherwise the answers are awaited. */
  readonly end?: true;
  /** Reset the connection right after the last byte. */
  readonly reset?: true;
  /** A HEAD request: its answers have no body to check. */
  readonly head?: true;
}

const H: [string, string] = ['Host', 'badgesync.test'];
const JSON_TYPE: [string, string] = ['Content-Type', 'application/json'];
const auth = (credential: string): [string, string] => ['Authorization', `Bearer ${credential}`];
const get = (target: string, headers: ReadonlyArray<readonly [string, string]> = [H]) =>
  request('GET', target, headers);
const upgrade = (target: string, extra: ReadonlyArray<readonly [string, string]> = []) =>
  request('GET', target, upgradeHeaders(extra));
const post = (target: string, body: string, key: string, extra: ReadonlyArray<readonly [string, string]> = []) =>
  request(
    'POST',
    target,
    [H, auth(key), JSON_TYPE, ['Content-Length', String(Buffer.byteLength(body))], ...extra],
    body,
  );
const items = (c: Credentials, body: string) => [post('/v1/accounts/victim/items', body, c.apiKey)];

/** Nested arrays `depth` deep, as JSON. */
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

const CORPUS: readonly Case[] = [
  // The cases that stopped the process or answered 500.
  { name: 'upgrade /v1/sync/%zz', parts: () => [upgrade('/v1/sync/%zz')], expect: [400], code: 'invalid_id' },
  { name: 'upgrade /v1/sync/%', parts: () => [upgrade('/v1/sync/%')], expect: [400], code: 'invalid_id' },
  { name: 'upgrade //', parts: () => [upgrade('//')], expect: [404], code: 'not_found' },
  { name: 'upgrade http://[', parts: () => [upgrade('http://[')], expect: [400], code: 'invalid_target' },
  {
    name: 'GET /v1/accounts/%zz/badge with the API key',
    parts: (c) => [get('/v1/accounts/%zz/badge', [H, auth(c.apiKey)])],
    expect: [400],
    code: 'invalid_id',
  },
  {
    name: 'PUT /v1/accounts/a/devices/%zz with the API key',
    parts: (c) => [
      request('PUT', '/v1/accounts/a/devices/%zz', [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '2']], '{}'),
    ],
    expect: [400],
    code: 'invalid_id',
  },
  { name: 'GET //', parts: () => [get('//')], expect: [404], code: 'not_found' },
  { name: 'GET http://[', parts: () => [get('http://[')], expect: [400], code: 'invalid_target' },
  {
    name: 'absolute-form GET with the API key is served like its path',
    parts: (c) => [get('http://badgesync.test/v1/accounts/victim/badge', [H, auth(c.apiKey)])],
    expect: [200],
  },
  {
    name: 'absolute-form upgrade with a valid token opens',
    parts: (c) => [upgrade(`http://badgesync.test/v1/sync/victim?token=${c.token}`)],
    expect: [101],
  },
  { name: 'absolute-form with a broken port', parts: () => [get('http://host:99999/healthz')], expect: [400] },
  { name: 'absolute-form with userinfo', parts: () => [get('http://user@host/healthz')], expect: [400] },
  { name: 'absolute-form of another scheme', parts: () => [get('ftp://host/healthz')], expect: [400] },
  { name: 'GET * (asterisk-form)', parts: () => [get('*')], expect: [400], code: 'invalid_target' },
  { name: 'OPTIONS *', parts: () => [request('OPTIONS', '*')], expect: [400], code: 'invalid_target' },
  { name: 'upgrade *', parts: () => [upgrade('*')], expect: [400], code: 'invalid_target' },
  // Encodings in IDs.
  {
    name: 'overlong UTF-8 %C0%AF',
    parts: (c) => [get('/v1/accounts/%C0%AF/badge', [H, auth(c.apiKey)])],
    expect: [400],
  },
  { name: '%00 in an ID', parts: (c) => [get('/v1/accounts/a%00b/badge', [H, auth(c.apiKey)])], expect: [400] },
  { name: '%2F in an ID', parts: (c) => [get('/v1/accounts/a%2Fb/badge', [H, auth(c.apiKey)])], expect: [400] },
  {
    name: 'double-encoded %252F',
    parts: (c) => [get('/v1/accounts/a%252Fb/badge', [H, auth(c.apiKey)])],
    expect: [400],
  },
  {
    name: 'truncated UTF-8 %E2%82',
    parts: (c) => [get('/v1/accounts/%E2%82/badge', [H, auth(c.apiKey)])],
    expect: [400],
  },
  {
    name: 'lone surrogate %ED%A0%80',
    parts: (c) => [get('/v1/accounts/%ED%A0%80/badge', [H, auth(c.apiKey)])],
    expect: [400],
  },
  { name: '%u0041 escape', parts: (c) => [get('/v1/accounts/%u0041/badge', [H, auth(c.apiKey)])], expect: [400] },
  { name: 'emoji ID', parts: (c) => [get('/v1/accounts/%F0%9F%98%80/badge', [H, auth(c.apiKey)])], expect: [400] },
  { name: 'space in an ID', parts: (c) => [get('/v1/accounts/a%20b/badge', [H, auth(c.apiKey)])], expect: [400] },
  { name: 'dot segment as ID', parts: (c) => [get('/v1/accounts/./badge', [H, auth(c.apiKey)])], expect: [400] },
  { name: 'dot-dot segment as ID', parts: (c) => [get('/v1/accounts/../badge', [H, auth(c.apiKey)])], expect: [400] },
  {
    name: 'encoded dot-dot as ID',
    parts: (c) => [get('/v1/accounts/%2e%2e/badge', [H, auth(c.apiKey)])],
    expect: [400],
  },
  { name: 'encoded dot-dot on the upgrade', parts: () => [upgrade('/v1/sync/%2E%2E')], expect: [400] },
  {
    name: 'dot segments between routes',
    parts: (c) => [get('/v1/accounts/a/../b/badge', [H, auth(c.apiKey)])],
    expect: [404],
  },
  { name: './ in a path', parts: (c) => [get('/v1/./accounts/a/badge', [H, auth(c.apiKey)])], expect: [404] },
  { name: 'empty segment /v1//sync', parts: () => [upgrade('/v1//sync/victim')], expect: [404] },
  { name: 'empty account /v1/sync//a', parts: () => [upgrade('/v1/sync//a')], expect: [404] },
  { name: 'no account /v1/sync/', parts: () => [upgrade('/v1/sync/')], expect: [404] },
  { name: 'extra segment /v1/sync/a/b', parts: () => [upgrade('/v1/sync/a/b')], expect: [404] },
  {
    name: 'ID of 129 characters',
    parts: (c) => [get(`/v1/accounts/${'a'.repeat(129)}/badge`, [H, auth(c.apiKey)])],
    expect: [400],
  },
  {
    name: 'ID of 10,000 characters',
    parts: (c) => [get(`/v1/accounts/${'a'.repeat(10_000)}/badge`, [H, auth(c.apiKey)])],
    expect: [400],
  },
  { name: 'path of 20,000 characters', parts: () => [get(`/v1/accounts/${'a'.repeat(20_000)}/badge`)], expect: [431] },
  {
    name: 'upgrade path of 20,000 characters',
    parts: () => [upgrade(`/v1/sync/${'%41'.repeat(7_000)}`)],
    expect: [431],
  },
  { name: 'upgrade ID of 10,000 escapes', parts: () => [upgrade(`/v1/sync/${'%41'.repeat(3_000)}`)], expect: [400] },
  { name: 'bad escape outside any ID', parts: () => [get('/%zz')], expect: [404] },
  { name: 'backslashes', parts: () => [get('/v1\\accounts\\a\\badge')], expect: [404] },
  {
    name: 'raw non-ASCII in the path',
    parts: () => [
      Buffer.concat([
        Buffer.from('GET /v1/sync/'),
        Buffer.from([0xc3, 0xa9]),
        Buffer.from(' HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]),
    ],
    expect: [400],
  },
  {
    name: 'raw NUL in the path',
    parts: () => ['GET /v1/accounts/a\u0000/badge HTTP/1.1\r\nHost: x\r\n\r\n'],
    expect: [400],
  },
  { name: 'tab in the path', parts: () => ['GET /v1/accounts/a\tb/badge HTTP/1.1\r\nHost: x\r\n\r\n'], expect: [400] },
  { name: 'relative target', parts: () => [get('v1/accounts/a/badge')], expect: [400] },
  { name: 'query-only target', parts: () => [get('?token=x')], expect: [400] },
  { name: 'token with a bad escape', parts: () => [upgrade('/v1/sync/victim?token=%zz')], expect: [401] },
  { name: 'token given twice', parts: (c) => [upgrade(`/v1/sync/victim?token=junk&token=${c.token}`)], expect: [401] },
  {
    name: 'fragment in the target',
    parts: (c) => [get('/v1/accounts/victim/badge#x', [H, auth(c.apiKey)])],
    expect: [200],
  },
  // Methods.
  { name: 'TRACE /', parts: () => [request('TRACE', '/')], expect: [404] },
  { name: 'TRACE /healthz', parts: () => [request('TRACE', '/healthz')], expect: [405] },
  { name: 'POST /healthz', parts: () => [request('POST', '/healthz', [H, ['Content-Length', '0']])], expect: [405] },
  { name: 'CONNECT host:443', parts: () => [request('CONNECT', 'badgesync.test:443')], expect: [405] },
  { name: 'CONNECT to the sync path', parts: () => [request('CONNECT', '/v1/sync/victim')] },
  { name: 'lowercase get', parts: () => [request('get', '/healthz')], expect: [400], code: 'bad_request' },
  { name: 'unknown method FOO', parts: () => [request('FOO', '/healthz')], expect: [400] },
  { name: 'method of 10,000 letters', parts: () => [request('G'.repeat(10_000), '/healthz')], expect: [400] },
  {
    name: 'DELETE on the badge route',
    parts: (c) => [request('DELETE', '/v1/accounts/a/badge', [H, auth(c.apiKey)])],
    expect: [405],
  },
  {
    name: 'PATCH on items',
    parts: (c) => [request('PATCH', '/v1/accounts/a/items', [H, auth(c.apiKey)])],
    expect: [405],
  },
  {
    name: 'HEAD on the badge route',
    parts: (c) => [request('HEAD', '/v1/accounts/a/badge', [H, auth(c.apiKey)])],
    expect: [405],
    head: true,
  },
  { name: 'OPTIONS on items', parts: () => [request('OPTIONS', '/v1/accounts/a/items')], expect: [405] },
  { name: 'PROPFIND /', parts: () => [request('PROPFIND', '/')], expect: [404] },
  { name: 'M-SEARCH *', parts: () => [request('M-SEARCH', '*')], expect: [400] },
  {
    name: 'upgrade with POST',
    parts: (c) => [request('POST', `/v1/sync/victim?token=${c.token}`, upgradeHeaders())],
    expect: [400],
    code: 'invalid_handshake',
  },
  // Header junk.
  { name: 'HTTP/1.1 without Host', parts: () => ['GET /healthz HTTP/1.1\r\n\r\n'], expect: [400] },
  { name: 'duplicate Host', parts: () => [get('/v1/accounts/a/badge', [H, ['Host', 'other.test']])], expect: [401] },
  { name: 'Host of junk', parts: () => [get('/v1/accounts/a/badge', [['Host', '[::1']])], expect: [401] },
  {
    name: 'Content-Length not a number',
    parts: (c) => [
      request('POST', '/v1/accounts/a/items', [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', 'abc']], '{}'),
    ],
    expect: [400],
  },
  {
    name: 'negative Content-Length',
    parts: () => [request('POST', '/v1/accounts/a/items', [H, ['Content-Length', '-1']])],
    expect: [400],
  },
  {
    name: 'two different Content-Lengths',
    parts: () => [request('POST', '/v1/accounts/a/items', [H, ['Content-Length', '2'], ['Content-Length', '3']], '{}')],
    expect: [400],
  },
  {
    name: 'Content-Length and Transfer-Encoding',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '3'], ['Transfer-Encoding', 'chunked']],
        '0\r\n\r\n',
      ),
    ],
    expect: [400],
  },
  {
    name: 'chunk size not hex',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'chunked']],
        'zz\r\n{}\r\n0\r\n\r\n',
      ),
    ],
    expect: [400],
  },
  {
    name: 'chunk size overflowing 64 bits',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'chunked']],
        'fffffffffffffffffff\r\n{}\r\n',
      ),
    ],
    expect: [400],
  },
  {
    name: 'chunked body over 64 KiB',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'chunked']],
        `10000\r\n${' '.repeat(0x10000)}\r\n1\r\n \r\n0\r\n\r\n`,
      ),
    ],
    expect: [413],
  },
  {
    name: 'Transfer-Encoding gzip, chunked',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'gzip, chunked']],
        '2\r\n{}\r\n0\r\n\r\n',
      ),
    ],
  },
  {
    name: 'Transfer-Encoding identity',
    parts: (c) => [
      request('POST', '/v1/accounts/a/items', [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'identity']], '{}'),
    ],
  },
  {
    name: 'obs-fold header',
    parts: () => ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n'],
    expect: [400],
  },
  {
    name: 'non-ASCII header value',
    parts: () => [
      Buffer.concat([
        Buffer.from('GET /v1/accounts/a/badge HTTP/1.1\r\nHost: x\r\nX-Name: '),
        Buffer.from([0xe9, 0xff]),
        Buffer.from('\r\n\r\n'),
      ]),
    ],
    expect: [401],
  },
  {
    name: 'NUL in a header value',
    parts: () => ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Nul: a\u0000b\r\n\r\n'],
    expect: [400],
  },
  {
    name: 'space in a header name',
    parts: () => ['GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
    expect: [400],
  },
  {
    name: 'header line without a colon',
    parts: () => ['GET /healthz HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n'],
    expect: [400],
  },
  { name: 'bare LF line endings', parts: () => ['GET /healthz HTTP/1.1\nHost: x\n\n'], expect: [400] },
  {
    name: '500 small headers',
    parts: () => [
      get('/v1/accounts/a/badge', [H, ...Array.from({ length: 500 }, (_, i): [string, string] => [`X-${i}`, 'y'])]),
    ],
    expect: [401],
  },
  {
    name: 'one header of 20 KB',
    parts: () => [get('/healthz', [H, ['X-Big', 'a'.repeat(20_000)]])],
    expect: [431],
    code: 'headers_too_large',
  },
  {
    name: 'headers of 20 KB in all',
    parts: () => [
      get('/healthz', [H, ...Array.from({ length: 2_000 }, (_, i): [string, string] => [`X-${i}`, 'yyyy'])]),
    ],
    expect: [431],
  },
  {
    name: 'upgrade with 20 KB of headers',
    parts: () => [upgrade('/v1/sync/victim', [['X-Big', 'a'.repeat(20_000)]])],
    expect: [431],
  },
  {
    name: 'empty bearer',
    parts: () => [get('/v1/accounts/a/badge', [H, ['Authorization', 'Bearer ']])],
    expect: [401],
  },
  {
    name: 'Basic credentials',
    parts: () => [get('/v1/accounts/a/badge', [H, ['Authorization', 'Basic YTpi']])],
    expect: [401],
  },
  {
    name: 'API key with a suffix',
    parts: (c) => [get('/v1/accounts/a/badge', [H, auth(`${c.apiKey}x`)])],
    expect: [401],
  },
  {
    name: 'API key as a prefix',
    parts: (c) => [get('/v1/accounts/a/badge', [H, auth(c.apiKey.slice(0, -1))])],
    expect: [401],
  },
  { name: 'bearer of 8 KB', parts: () => [get('/v1/accounts/a/badge', [H, auth('x'.repeat(8_000))])], expect: [401] },
  {
    name: 'Expect: 100-continue with a bad body',
    parts: (c) => [post('/v1/accounts/a/items', '{', c.apiKey, [['Expect', '100-continue']])],
    expect: [100, 400],
  },
  {
    name: 'Expect: something else',
    parts: (c) => [post('/v1/accounts/a/items', '{}', c.apiKey, [['Expect', 'teapot']])],
    expect: [400],
  },
  // Truncated requests (the client closes its side).
  { name: 'nothing at all', parts: () => [], end: true },
  { name: 'one byte', parts: () => ['G'], end: true },
  { name: 'request line cut short', parts: () => ['GET /heal'], end: true },
  { name: 'headers without the blank line', parts: () => ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], end: true },
  { name: 'upgrade without the blank line', parts: () => [upgrade('/v1/sync/victim').slice(0, -2)], end: true },
  {
    name: 'body shorter than Content-Length',
    parts: (c) => [
      request('POST', '/v1/accounts/a/items', [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '100']], '{"thread"'),
    ],
    expect: [400],
    end: true,
  },
  {
    name: 'chunked body without its last chunk',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Transfer-Encoding', 'chunked']],
        '2\r\n{}\r\n',
      ),
    ],
    expect: [400],
    end: true,
  },
  // Connections reset while the server answers.
  { name: 'reset after an upgrade to an unknown path', parts: () => [upgrade('/nowhere')], reset: true },
  { name: 'reset after a bad upgrade', parts: () => [upgrade('/v1/sync/%zz')], reset: true },
  { name: 'reset during the token check', parts: (c) => [upgrade(`/v1/sync/victim?token=${c.token}`)], reset: true },
  {
    name: 'reset mid-body',
    parts: (c) => [
      request('POST', '/v1/accounts/victim/items', [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '50']], '{"thr'),
    ],
    reset: true,
  },
  { name: 'reset after a parse error', parts: () => ['GET /\u0000 HTTP/1.1\r\n\r\n'], reset: true },
  // Pipelined requests.
  { name: 'three pipelined health checks', parts: () => [get('/healthz').repeat(3)], expect: [200, 200, 200] },
  {
    name: 'a good request, then garbage',
    parts: () => [`${get('/healthz')}\u0001\u0002garbage\r\n\r\n`],
    expect: [200, 400],
  },
  {
    name: '50 pipelined bad escapes',
    parts: (c) => [get('/v1/accounts/%zz/badge', [H, auth(c.apiKey)]).repeat(50)],
    expect: Array(50).fill(400),
  },
  // A slow request (an ingest, answered once its commit is durable) whose body was read: the
  // parse error behind it waits for its answer, and both are answered in order.
  {
    name: 'a slow request, then garbage',
    parts: (c) => [`${post('/v1/accounts/victim/items', '{"thread":"a"}', c.apiKey)}\u0001garbage\r\n\r\n`],
    expect: [200, 400],
  },
  {
    name: 'a slow request, then a bad request',
    parts: (c) => [`${post('/v1/accounts/victim/items', '{"thread":"a"}', c.apiKey)}${get('/v1/accounts/%zz/badge')}`],
    expect: [200, 400],
  },
  // Refused before its body was read: the connection closes after the 403 (respond.ts), so
  // what follows may never be read; whether it is depends on how the bytes arrive.
  {
    name: 'a refused request, then garbage',
    parts: (c) => [`${post('/v1/accounts/victim/items', '{"thread":"a"}', c.token)}\u0001garbage\r\n\r\n`],
    code: 'forbidden',
  },
  {
    name: 'a refused request, then a bad request',
    parts: (c) => [`${post('/v1/accounts/victim/items', '{"thread":"a"}', c.token)}${get('/v1/accounts/%zz/badge')}`],
    code: 'forbidden',
  },
  { name: 'a bad upgrade, then a request', parts: () => [upgrade('/v1/sync/%zz') + get('/healthz')], expect: [400] },
  {
    name: 'a request smuggled in a short body',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/a/items',
        [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '2']],
        `{}${get('/%zz')}`,
      ),
    ],
    expect: [400, 404],
  },
  // Other protocols.
  { name: 'HTTP/0.9 request', parts: () => ['GET /healthz\r\n'], end: true },
  { name: 'HTTP/2 preface', parts: () => ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'] },
  { name: 'HTTP/9.9', parts: () => ['GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n'], expect: [400] },
  { name: 'lowercase http/1.1', parts: () => ['GET /healthz http/1.1\r\nHost: x\r\n\r\n'], expect: [400] },
  { name: 'TLS client hello', parts: () => [Buffer.from('16030100a5010000a10303', 'hex')] },
  { name: 'binary noise', parts: () => [Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 131 + 7) % 256))] },
  // Upgrades.
  {
    name: 'upgrade without Sec-WebSocket-Key',
    parts: (c) => [
      request(
        'GET',
        `/v1/sync/victim?token=${c.token}`,
        upgradeHeaders().filter(([n]) => n !== 'Sec-WebSocket-Key'),
      ),
    ],
    expect: [400],
    code: 'invalid_handshake',
  },
  {
    name: 'upgrade with a short key',
    parts: (c) => [
      request(
        'GET',
        `/v1/sync/victim?token=${c.token}`,
        upgradeHeaders().map(([n, v]): [string, string] => [n, n === 'Sec-WebSocket-Key' ? 'abc' : v]),
      ),
    ],
    expect: [400],
  },
  {
    name: 'upgrade with version 12',
    parts: (c) => [
      request(
        'GET',
        `/v1/sync/victim?token=${c.token}`,
        upgradeHeaders().map(([n, v]): [string, string] => [n, n === 'Sec-WebSocket-Version' ? '12' : v]),
      ),
    ],
    expect: [400],
  },
  {
    name: 'upgrade without a version',
    parts: (c) => [
      request(
        'GET',
        `/v1/sync/victim?token=${c.token}`,
        upgradeHeaders().filter(([n]) => n !== 'Sec-WebSocket-Version'),
      ),
    ],
    expect: [400],
  },
  {
    name: 'upgrade to h2c',
    parts: (c) => [
      request('GET', `/v1/sync/victim?token=${c.token}`, [
        H,
        ['Connection', 'Upgrade, HTTP2-Settings'],
        ['Upgrade', 'h2c'],
        ['HTTP2-Settings', 'AAMAAABkAAQAAP__'],
      ]),
    ],
    expect: [400],
  },
  { name: 'upgrade to an unknown path', parts: () => [upgrade('/v2/sync/victim')], expect: [404] },
  { name: 'upgrade to /healthz', parts: () => [upgrade('/healthz')], expect: [404] },
  { name: 'upgrade without a token', parts: () => [upgrade('/v1/sync/victim')], expect: [401] },
  { name: 'upgrade with a garbage token', parts: () => [upgrade('/v1/sync/victim?token=a.b.c')], expect: [401] },
  {
    name: 'upgrade with an expired token',
    parts: (c) => [upgrade(`/v1/sync/victim?token=${c.expiredToken}`)],
    expect: [401],
  },
  {
    name: "upgrade with another account's token",
    parts: (c) => [upgrade(`/v1/sync/victim?token=${c.otherToken}`)],
    expect: [403],
  },
  {
    name: 'upgrade with the API key as token',
    parts: (c) => [upgrade(`/v1/sync/victim?token=${c.apiKey}`)],
    expect: [401],
  },
  {
    name: 'upgrade with a valid token and a bad ID',
    parts: (c) => [upgrade(`/v1/sync/%zz?token=${c.token}`)],
    expect: [400],
  },
  {
    name: 'upgrade with a bad subprotocol',
    parts: (c) => [upgrade(`/v1/sync/victim?token=${c.token}`, [['Sec-WebSocket-Protocol', ',,,']])],
    expect: [400],
  },
  {
    name: 'upgrade, then garbage frames',
    parts: (c) => [upgrade(`/v1/sync/victim?token=${c.token}`), Buffer.from('ffffffffffffffff', 'hex')],
    expect: [101],
  },
  // JSON bodies, with the API key.
  { name: 'invalid JSON', parts: (c) => items(c, '{"thread":'), expect: [400], code: 'invalid_json' },
  { name: 'JSON of 100 KB', parts: (c) => items(c, JSON.stringify({ thread: 'a'.repeat(100_000) })), expect: [413] },
  {
    name: 'Content-Length of 10 MB, no body',
    parts: (c) => [
      request('POST', '/v1/accounts/victim/items', [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '10000000']]),
    ],
    expect: [413],
  },
  { name: 'arrays 30,000 deep', parts: (c) => items(c, nested(30_000)) },
  { name: 'objects 5,000 deep', parts: (c) => items(c, `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`) },
  { name: 'thread a number', parts: (c) => items(c, '{"thread":5}'), expect: [400], code: 'invalid_body' },
  { name: 'count a string', parts: (c) => items(c, '{"thread":"a","count":"3"}'), expect: [400] },
  { name: 'count 1e400', parts: (c) => items(c, '{"thread":"a","count":1e400}'), expect: [400] },
  { name: 'count negative', parts: (c) => items(c, '{"thread":"a","count":-1}'), expect: [400] },
  { name: 'count fractional', parts: (c) => items(c, '{"thread":"a","count":1.5}'), expect: [400] },
  { name: 'count 10001', parts: (c) => items(c, '{"thread":"a","count":10001}'), expect: [400] },
  { name: 'thread empty', parts: (c) => items(c, '{"thread":""}'), expect: [400] },
  { name: 'thread with a slash', parts: (c) => items(c, '{"thread":"a/b"}'), expect: [400] },
  { name: 'an unknown field', parts: (c) => items(c, '{"thread":"a","evil":true}'), expect: [400] },
  { name: '__proto__ field', parts: (c) => items(c, '{"thread":"a","__proto__":{"count":5}}'), expect: [400] },
  { name: 'body null', parts: (c) => items(c, 'null'), expect: [400] },
  { name: 'body an array', parts: (c) => items(c, '[]'), expect: [400] },
  { name: 'body a string', parts: (c) => items(c, '"x"'), expect: [400] },
  { name: 'body empty', parts: (c) => items(c, ''), expect: [400] },
  { name: 'body with NUL bytes', parts: (c) => items(c, '{"thread":"a\u0000"}'), expect: [400] },
  {
    name: 'body in UTF-16',
    parts: (c) => [
      post('/v1/accounts/victim/items', Buffer.from('{"thread":"a"}', 'utf16le').toString('latin1'), c.apiKey),
    ],
    expect: [400],
  },
  {
    name: 'read seq 2^53',
    parts: (c) => [post('/v1/accounts/victim/read', '{"thread":"a","seq":9007199254740992}', c.apiKey)],
    expect: [400],
  },
  {
    name: 'no Content-Type',
    parts: (c) => [request('POST', '/v1/accounts/victim/items', [H, auth(c.apiKey), ['Content-Length', '2']], '{}')],
    expect: [415],
  },
  {
    name: 'text/plain',
    parts: (c) => [
      request(
        'POST',
        '/v1/accounts/victim/items',
        [H, auth(c.apiKey), ['Content-Type', 'text/plain'], ['Content-Length', '2']],
        '{}',
      ),
    ],
    expect: [415],
  },
  {
    name: 'device PUT with a bad environment',
    parts: (c) => [
      request(
        'PUT',
        '/v1/accounts/victim/devices/mallory',
        [H, auth(c.apiKey), JSON_TYPE, ['Content-Length', '21']],
        '{"environment":"moon"}'.slice(0, 21),
      ),
    ],
    expect: [400],
  },
  // Without credentials, or with a device token where it may not go.
  {
    name: 'invalid JSON without credentials',
    parts: () => [request('POST', '/v1/accounts/victim/items', [H, JSON_TYPE, ['Content-Length', '1']], '{')],
    expect: [401],
  },
  {
    name: 'items with a device token',
    parts: (c) => [post('/v1/accounts/victim/items', '{"thread":"a"}', c.token)],
    expect: [403],
  },
  {
    name: 'device token on its own device, bad body',
    parts: (c) => [
      request(
        'PUT',
        '/v1/accounts/victim/devices/mallory',
        [H, auth(c.token), JSON_TYPE, ['Content-Length', '1']],
        '{',
      ),
    ],
    expect: [400],
  },
  {
    name: 'device token on another device',
    parts: (c) => [
      request('PUT', '/v1/accounts/victim/devices/bob', [H, auth(c.token), JSON_TYPE, ['Content-Length', '2']], '{}'),
    ],
    expect: [403],
  },
  {
    name: 'device token on another account',
    parts: (c) => [request('DELETE', '/v1/accounts/bystander/devices/mallory', [H, auth(c.token)])],
    expect: [403],
  },
];

/** What a case's answer must be: its expected statuses, or 4xx/closed; never 5xx, never a hang. */
function check(c: Case, answer: RawAnswer): void {
  const where = `${c.name}: got ${JSON.stringify(answer.statuses)} ${JSON.stringify(answer.text.slice(0, 300))}`;
  assert.ok(answer.settled, `${c.name}: neither answered nor closed in time`);
  assert.ok(
    answer.statuses.every((s) => s < 500),
    where,
  );
  if (c.expect !== undefined) assert.deepEqual(answer.statuses, c.expect, where);
  else
    assert.ok(
      answer.statuses.every((s) => s === 100 || (s >= 400 && s < 500)),
      where,
    );
  if (c.code !== undefined) assert.ok(answer.text.includes(`"code":"${c.code}"`), where);
  // Every answer of ours is in the contract's shape.
  const final = answer.statuses.filter((s) => s >= 400);
  if (final.length > 0 && !c.head) assert.ok(answer.text.includes('{"error":{"code":"'), where);
}

describe('malformed requests against the real server', () => {
  let server: ServerProcess;
  let bystander: Device;
  let credentials: Credentials;
  let head = 0;

  beforeAll(async () => {
    // Upgrade rate limits lifted: the corpus sends far more than 100 upgrades from one address.
    server = await startServer({ env: { BADGESYNC_UPGRADE_RATE: '100000', BADGESYNC_UPGRADE_BURST: '100000' } });
    credentials = {
      apiKey: server.apiKey,
      token: await deviceToken(server, 'victim', 'mallory'),
      otherToken: await deviceToken(server, 'elsewhere', 'mallory'),
      expiredToken: await deviceToken(server, 'victim', 'mallory', -60),
    };
    bystander = await connectDevice(server, 'bystander', 'phone');
    await synced(bystander);
  });
  afterAll(async () => {
    bystander?.destroy();
    await stopAll();
  });

  /** The bystander, a stock provider of another account, receives the server's next write. */
  async function bystanderReceives(): Promise<void> {
    head += 1;
    const answer = await api(server, 'POST', '/v1/accounts/bystander/items', { thread: 'inbox' });
    assert.equal(answer.status, 200);
    await waitFor(() => headOf(bystander.doc, 'inbox') === head, 10_000, `the bystander to receive head ${head}`);
    assert.equal(bystander.provider.wsconnected, true, 'the bystander stayed connected');
  }

  test(`[EDGE-1][EDGE-2] a corpus of ${CORPUS.length} malformed requests: each 4xx or closed, never 5xx; the server stays up for everyone`, async () => {
    assert.ok(CORPUS.length >= 150, `corpus of ${CORPUS.length}`);
    let i = 0;
    for (const c of CORPUS) {
      const answer = await rawExchange(
        server.port,
        c.parts(credentials),
        c.reset ? { reset: true } : c.end ? {} : { end: false, heads: c.expect?.length ?? 1 },
      );
      check(c, answer);
      const health = await fetch(`${server.http}/healthz`);
      assert.equal(health.status, 200, `/healthz after ${c.name}`);
      if (++i % 25 === 0) await bystanderReceives();
    }
    await bystanderReceives();
    assert.equal(server.child.exitCode, null, 'the process is still running');
    // Nothing was a bug: no error or fatal line (a throw caught at a boundary, the last resort).
    const errors = server.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
    assert.deepEqual(errors, [], 'no error was logged');
  });

  test('[EDGE-3] a client that sends half its headers and stalls is cut off, as is one that sends nothing', async () => {
    const [stalled, silent] = await Promise.all([
      rawExchange(server.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n'], { end: false, timeoutMs: 30_000 }),
      rawExchange(server.port, [], { end: false, timeoutMs: 30_000 }),
    ]);
    for (const answer of [stalled, silent]) {
      assert.ok(answer.settled, 'closed by the server before 30 s');
      assert.ok(
        answer.statuses.every((s) => s === 408),
        JSON.stringify(answer.text),
      );
    }
    assert.ok(stalled.text.includes('"code":"request_timeout"'), stalled.text);
    await bystanderReceives();
  });
});
