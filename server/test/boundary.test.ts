import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'vitest';
import { isApiKey } from '../src/auth/api-key.js';
import { guarded } from '../src/guard.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { KeyedRateLimiter, TokenBucket } from '../src/sync/rate-limit.js';

function capture(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return {
    log: createLogger('info', sink),
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('boundaries', () => {
  test('[EDGE-1] a throwing timer callback is logged once, loudly, with where it was, and does not escape', async () => {
    const { log, lines } = capture();
    const tick = guarded(log, 'test timer', () => {
      throw new Error('boom');
    });
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        tick();
        resolve();
      }, 1);
    });
    const logged = lines();
    assert.equal(logged.length, 1);
    const [entry] = logged as [Record<string, unknown>];
    assert.equal(entry.level, 50);
    assert.equal(entry.where, 'test timer');
    assert.equal((entry.err as { message: string }).message, 'boom');
  });

  test('[EDGE-1] an after-commit callback that throws is reported, and the callbacks after it still run', async () => {
    const reported: unknown[] = [];
    const commit = new GroupCommit(
      asyncStore(new MemoryStore()),
      new Metrics(),
      (err) => assert.fail(String(err)),
      (err) => reported.push(err),
    );
    let later = false;
    // Something to commit, so the callbacks wait for the flush.
    commit.addPushWrite({ kind: 'clearDelivered', token: 'ab' });
    commit.afterCommit(() => {
      throw new Error('relay bug');
    });
    commit.afterCommit(() => {
      later = true;
    });
    await commit.flushed();
    assert.equal(later, true);
    assert.equal(reported.length, 1);
    await commit.close();
  });

  test('[EDGE-4] Retry-After comes from the refill: whole seconds until the next token, at least 1', () => {
    const bucket = new TokenBucket(2, 1, 0);
    assert.equal(bucket.take(0), true);
    assert.equal(bucket.take(0), false);
    assert.equal(bucket.retryAfterSeconds(0), 1);
    const slow = new TokenBucket(0.1, 1, 0);
    slow.take(0);
    assert.equal(slow.retryAfterSeconds(0), 10);
    assert.equal(slow.retryAfterSeconds(5_000), 5);
    const keyed = new KeyedRateLimiter(1, 1);
    assert.equal(keyed.take('a', 0), true);
    assert.equal(keyed.take('a', 0), false);
    assert.equal(keyed.retryAfterSeconds('a', 0), 1);
    assert.equal(keyed.retryAfterSeconds('unknown', 0), 1);
  });

  test('[AUTH-5] the API key matches only itself, whatever the length presented', () => {
    const key = 'k'.repeat(32);
    assert.equal(isApiKey(key, key), true);
    for (const other of [null, '', 'k', 'k'.repeat(31), 'k'.repeat(33), `${'k'.repeat(31)}j`, 'x'.repeat(10_000)]) {
      assert.equal(isApiKey(other, key), false, String(other).slice(0, 40));
    }
  });
});
