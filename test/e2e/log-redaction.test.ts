/**
 * No device token, API key or secret ever reaches the server's output: the token sits in the
 * sync URL's query, keys in Authorization headers, and both pass through refusals, errors
 * and debug logs. Everything the process writes (stdout and stderr, at trace level) is read.
 */
import assert from 'node:assert/strict';
import { afterAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { RawClient } from '../helpers/raw-client.js';
import { rawExchange, request, upgradeHeaders } from '../helpers/raw-http.js';
import { startServer, stopAll } from '../helpers/server-process.js';

describe('credentials in logs', () => {
  afterAll(stopAll);

  test('[EDGE-5][AUTH-5] tokens in the query and keys in headers, good and bad, never appear in stdout or stderr', async () => {
    const server = await startServer({ env: { BADGESYNC_LOG_LEVEL: 'trace' } });
    let output = server.logs.map((entry) => JSON.stringify(entry)).join('\n');
    server.child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    server.child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const token = await deviceToken(server, 'alice', 'phone');
    const otherToken = await deviceToken(server, 'bob', 'phone');
    const expiredToken = await deviceToken(server, 'alice', 'phone', -60);
    const wrongKey = `wrong-${server.apiKey.slice(0, 8)}-key-0123456789`;
    const secrets = {
      token,
      otherToken,
      expiredToken,
      apiKey: server.apiKey,
      wrongKey,
      deviceSecret: server.deviceSecret,
    };

    const upgrade = (target: string, extra: Array<[string, string]> = []) =>
      rawExchange(server.port, [request('GET', target, upgradeHeaders(extra))], { end: false, heads: 1 });
    const statuses: number[] = [];
    for (const target of [
      `/v1/sync/alice?token=${token}`,
      `/v1/sync/%zz?token=${token}`,
      `//?token=${token}`,
      `http://[?token=${token}`,
      `/v1/sync/alice?token=${otherToken}`,
      `/v1/sync/alice?token=${expiredToken}`,
      `/v1/sync/alice?token=${wrongKey}`,
    ]) {
      statuses.push((await upgrade(target)).statuses[0] ?? 0);
    }
    statuses.push((await upgrade('/v1/sync/alice', [['Authorization', `Bearer ${otherToken}`]])).statuses[0] ?? 0);
    assert.deepEqual(statuses, [101, 400, 404, 400, 403, 401, 401, 403]);

    assert.equal((await api(server, 'GET', '/v1/accounts/alice/badge', undefined, wrongKey)).status, 401);
    assert.equal((await api(server, 'GET', '/v1/accounts/alice/badge', undefined, token)).status, 403);
    assert.equal((await api(server, 'GET', `/v1/accounts/alice/badge?token=${token}`)).status, 200);
    assert.equal((await api(server, 'GET', `/v1/accounts/%zz/badge?key=${server.apiKey}`)).status, 400);
    assert.equal((await api(server, 'PUT', '/v1/accounts/alice/devices/phone', { badges: true }, token)).status, 200);
    // A connection that lives, breaks the protocol and is closed: debug and warn lines.
    const phone = await RawClient.synced(server, 'alice', 'phone', { token });
    phone.send(new Uint8Array([0, 9, 9]));
    await phone.closedWithin(5_000);

    assert.equal(await server.stop(), 0);
    assert.ok(output.includes('badgesync listening'), 'the output was captured');
    for (const [name, value] of Object.entries(secrets)) {
      assert.ok(!output.includes(value), `${name} appears in the server's output`);
    }
    // The signature part alone, in case a token were cut or re-encoded.
    assert.ok(!output.includes(token.split('.')[2] as string), 'a token signature appears in the output');
  });
});
