/**
 * Idempotent ingests (contract: POST items): a key repeated within 24 h, per account and
 * across restarts, answers the first answer and adds nothing.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const items = (account: string) => `/v1/accounts/${account}/items`;

describe('idempotent ingests', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(stopAll);

  test('[API-2] a repeated key answers the first answer and adds nothing', async () => {
    const first = await api(server, 'POST', items('idem'), { thread: 't', count: 3, idempotencyKey: 'k1' });
    assert.deepEqual(first, { status: 200, body: { thread: 't', head: 3, badge: 3 } });
    await api(server, 'POST', items('idem'), { thread: 't', count: 2 });
    const again = await api(server, 'POST', items('idem'), { thread: 't', count: 3, idempotencyKey: 'k1' });
    assert.deepEqual(again, first, 'the first answer, though the head has moved on since');
    // Even with another body: the key names the event, not the request.
    const other = await api(server, 'POST', items('idem'), { thread: 'u', count: 9, idempotencyKey: 'k1' });
    assert.deepEqual(other, first);
    assert.deepEqual(await badge(server, 'idem'), { badge: 5, threads: { t: 5 }, muted: [] });
  });

  test('[API-2] concurrent repeats of one key add once and all get the same answer', async () => {
    const answers = await Promise.all(
      Array.from({ length: 12 }, () =>
        api(server, 'POST', items('idem-race'), { thread: 't', count: 2, idempotencyKey: 'same' }),
      ),
    );
    for (const answer of answers) assert.deepEqual(answer, { status: 200, body: { thread: 't', head: 2, badge: 2 } });
    assert.equal((await badge(server, 'idem-race')).badge, 2);
  });

  test('[API-2] keys are per account', async () => {
    await api(server, 'POST', items('idem-a'), { thread: 't', count: 1, idempotencyKey: 'shared-key' });
    const b = await api(server, 'POST', items('idem-b'), { thread: 't', count: 4, idempotencyKey: 'shared-key' });
    assert.deepEqual(b.body, { thread: 't', head: 4, badge: 4 });
    assert.equal((await badge(server, 'idem-a')).badge, 1);
    assert.equal((await badge(server, 'idem-b')).badge, 4);
  });

  test('[API-2][STORE-6] a key acknowledged before kill -9 is still known after the restart', async () => {
    const first = await api(server, 'POST', items('idem-kill'), { thread: 't', count: 7, idempotencyKey: 'once' });
    assert.equal(first.status, 200);
    await server.kill();
    server = await server.restart();
    const again = await api(server, 'POST', items('idem-kill'), { thread: 't', count: 7, idempotencyKey: 'once' });
    assert.deepEqual(again, first);
    assert.equal((await badge(server, 'idem-kill')).badge, 7);
    // The keys of the earlier tests survived too.
    const k1 = await api(server, 'POST', items('idem'), { thread: 't', count: 3, idempotencyKey: 'k1' });
    assert.deepEqual(k1.body, { thread: 't', head: 3, badge: 3 });
    assert.equal((await badge(server, 'idem')).badge, 5);
  });

  test('[API-2] a key survives a graceful restart too', async () => {
    const first = await api(server, 'POST', items('idem-term'), { thread: 't', idempotencyKey: 'k' });
    assert.equal(await server.stop(), 0);
    server = await server.restart();
    assert.deepEqual(await api(server, 'POST', items('idem-term'), { thread: 't', idempotencyKey: 'k' }), first);
    assert.equal((await badge(server, 'idem-term')).badge, 1);
  });
});
