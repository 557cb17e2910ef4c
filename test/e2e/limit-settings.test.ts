/**
 * The pre-authentication upgrade rate and the per-connection message rate are settings, and
 * every 429 and `503 overloaded` says when to come back (`Retry-After`), on the API and on
 * the sync upgrade alike.
 */
import assert from 'node:assert/strict';
import { afterAll, describe, test } from 'vitest';
import { api, deviceToken } from '../helpers/api-client.js';
import { sleep } from '../helpers/eventually.js';
import { RawClient } from '../helpers/raw-client.js';
import { rawExchange, request, upgradeHeaders } from '../helpers/raw-http.js';
import { startServer, stopAll } from '../helpers/server-process.js';

/** The value of one response header in a raw answer, or null. */
function header(text: string, name: string): string | null {
  const match = new RegExp(`^${name}: *([^\\r]*)\\r$`, 'im').exec(text);
  return match ? (match[1] as string) : null;
}

describe('limits as settings, and Retry-After', () => {
  afterAll(stopAll);

  test('[SYNC-11][EDGE-4] BADGESYNC_UPGRADE_RATE/_BURST: past the burst, 429 rate_limited with Retry-After from the refill', async () => {
    const server = await startServer({ env: { BADGESYNC_UPGRADE_RATE: '1', BADGESYNC_UPGRADE_BURST: '2' } });
    const attempt = () =>
      rawExchange(server.port, [request('GET', '/v1/sync/someone?token=nope', upgradeHeaders())], {
        end: false,
        heads: 1,
      });
    // At once: one after the other, a loaded machine may spread them over the second that
    // refills a token, and the third is let through.
    const answers = await Promise.all([attempt(), attempt(), attempt()]);
    assert.deepEqual(
      answers.map((a) => a.statuses[0] ?? 0).sort((x, y) => x - y),
      [401, 401, 429],
      'a burst of 2, then refused (the default burst is 100)',
    );
    const limited = answers.find((a) => a.statuses[0] === 429)?.text ?? '';
    assert.ok(limited.includes('"code":"rate_limited"'), limited);
    // One token a second: the next one is at most a second away.
    assert.equal(header(limited, 'Retry-After'), '1', limited);
    // Coming back after Retry-After works: the limit is a rate, not a ban.
    await sleep(1_100);
    const later = await attempt();
    assert.equal(later.statuses[0], 401, later.text);
  });

  test('[SYNC-11][EDGE-4] BADGESYNC_MESSAGE_RATE/_BURST close a flooding connection with 1013; BADGESYNC_MAX_LOADED_DOCS answers 503 with Retry-After', async () => {
    const server = await startServer({
      env: { BADGESYNC_MESSAGE_RATE: '1', BADGESYNC_MESSAGE_BURST: '8', BADGESYNC_MAX_LOADED_DOCS: '1' },
    });
    const flood = await RawClient.synced(server, 'flood', 'phone');
    // Twenty query-awareness messages: nothing at the default 200/s with bursts of 1,000.
    for (let i = 0; i < 20 && flood.closeInfo === null; i++) flood.send(new Uint8Array([3]));
    const closed = await flood.closedWithin(5_000);
    assert.equal(closed.code, 1013, `closed with ${closed.code} ${closed.reason}`);

    // One loaded document, held by a live connection: no room for another account.
    const holder = await RawClient.synced(server, 'holder', 'phone');
    const viaApi = await fetch(`${server.http}/v1/accounts/other/items`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ thread: 'inbox' }),
    });
    assert.equal(viaApi.status, 503);
    assert.equal(((await viaApi.json()) as { error: { code: string } }).error.code, 'overloaded');
    assert.equal(viaApi.headers.get('retry-after'), '5');
    const token = await deviceToken(server, 'other', 'phone');
    const viaUpgrade = await rawExchange(
      server.port,
      [request('GET', `/v1/sync/other?token=${token}`, upgradeHeaders())],
      {
        end: false,
        heads: 1,
      },
    );
    assert.equal(viaUpgrade.statuses[0], 503, viaUpgrade.text);
    assert.ok(viaUpgrade.text.includes('"code":"overloaded"'), viaUpgrade.text);
    assert.equal(header(viaUpgrade.text, 'Retry-After'), '5', viaUpgrade.text);
    holder.close();
    // The holder's account still works: the cap refused others, it broke nothing.
    assert.equal((await api(server, 'GET', '/v1/accounts/holder/badge')).status, 200);
  });
});
