import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { effectiveMaxSockets, FD_HEADROOM, HEALTH_RESERVE, openFileLimit, rawAnswer } from '../src/http/socket-gate.js';

describe('socket caps', () => {
  test('[CONN-1] the cap in all is lowered to the open-file limit minus the headroom, never below the health reserve', () => {
    assert.equal(effectiveMaxSockets(50_000, null), 50_000, 'no /proc: the setting as is');
    assert.equal(effectiveMaxSockets(50_000, 1_024), 1_024 - FD_HEADROOM);
    assert.equal(effectiveMaxSockets(500, 1_048_576), 500, 'a lower setting wins');
    assert.equal(effectiveMaxSockets(50_000, 10), HEALTH_RESERVE + 1);
  });

  test('[CONN-1] this process reads its own open-file limit', () => {
    const limit = openFileLimit();
    assert.ok(limit === null || (Number.isSafeInteger(limit) && limit > 0), String(limit));
  });

  test('[CONN-1] a refusal is a complete HTTP answer in the contract shape with Retry-After', () => {
    const answer = rawAnswer(503, 'too_many_connections', 'full', 5);
    const [head, body] = answer.split('\r\n\r\n') as [string, string];
    assert.match(head, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    assert.match(head, /\r\nRetry-After: 5(\r\n|$)/);
    assert.match(head, new RegExp(`\\r\\nContent-Length: ${Buffer.byteLength(body)}\\r\\n`));
    assert.deepEqual(JSON.parse(body), { error: { code: 'too_many_connections', message: 'full' } });
  });
});
