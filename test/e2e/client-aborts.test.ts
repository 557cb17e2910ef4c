/**
 * A client that hangs up in the middle of its request — a body shorter than its
 * Content-Length, then FIN or a reset — on every route that reads a body, with the API key
 * and with a device token: never an error-level log line, never a 5xx, each counted.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { rawExchange, request } from '../helpers/raw-http.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer();
});
afterAll(stopAll);

/** The headers of a JSON request that promises 100 bytes of body. */
function promising(credential: string): Array<[string, string]> {
  return [
    ['Host', 'badgesync.test'],
    ['Authorization', `Bearer ${credential}`],
    ['Content-Type', 'application/json'],
    ['Content-Length', '100'],
  ];
}

async function abortsCounted(): Promise<Map<string, number>> {
  const answer = await fetch(`${server.http}/metrics`);
  const text = await answer.text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^badgesync_http_client_aborts_total\{route="([^"]+)"\} (\d+)$/gm)) {
    counts.set(match[1] as string, Number(match[2]));
  }
  return counts;
}

describe('clients that hang up mid-request', () => {
  test('[EDGE-1] a body cut short by FIN or a reset is counted, answered 400 or nothing, and never logged as an error', async () => {
    const token = await deviceToken(server, 'acme', 'phone');
    const cases: ReadonlyArray<readonly [string, string, string, string]> = [
      ['items', 'POST', '/v1/accounts/acme/items', server.apiKey],
      ['read', 'POST', '/v1/accounts/acme/read', server.apiKey],
      ['device_put', 'PUT', '/v1/accounts/acme/devices/phone', server.apiKey],
      ['device_put', 'PUT', '/v1/accounts/acme/devices/phone', token],
    ];
    const logStart = server.logs.length;
    for (const [route, method, target, credential] of cases) {
      const head = request(method, target, promising(credential));
      const ways = [
        ['FIN after part of the body', rawExchange(server.port, [`${head}{"thread":`])],
        ['FIN, head and body in two writes', rawExchange(server.port, [head, '{"thread":'])],
        ['a reset after part of the body', rawExchange(server.port, [`${head}{"thread":`], { reset: true })],
        // The handler waits for the body when the client gives up and closes.
        ['a close while the body is awaited', rawExchange(server.port, [head], { end: false, timeoutMs: 300 })],
      ] as const;
      for (const [how, exchange] of ways) {
        const answer = await exchange;
        for (const status of answer.statuses) assert.equal(status, 400, `${route} ${how}: ${answer.text.slice(0, 80)}`);
      }
    }
    const health = await api(server, 'GET', '/healthz');
    assert.equal(health.status, 200);
    // The server's log lines trail its answers through a pipe.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const errors = server.logs.slice(logStart).filter((entry) => typeof entry.level === 'number' && entry.level >= 50);
    assert.deepEqual(errors, [], 'nothing logged at error level');
    const counted = await abortsCounted();
    for (const route of ['items', 'read', 'device_put']) {
      assert.ok((counted.get(route) ?? 0) >= 1, `aborts of ${route} counted: ${JSON.stringify([...counted])}`);
    }
  });
});
