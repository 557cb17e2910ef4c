import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { ConfigError, flagName, loadConfig, SETTINGS } from '../src/config.js';

describe('settings ranges', () => {
  const numeric = SETTINGS.filter((s) => s.kind === 'int');

  test('[CONF-3] every numeric setting states a range that holds its default', () => {
    assert.ok(numeric.length >= 6);
    for (const s of numeric) {
      assert.equal(typeof s.min, 'number', `${s.env} has no minimum`);
      assert.equal(typeof s.max, 'number', `${s.env} has no maximum`);
      assert.ok((s.min as number) <= (s.fallback as number) && (s.fallback as number) <= (s.max as number), s.env);
    }
  });

  test('[CONF-3] outside its range, fractional, or not a number: refused with the setting, the value and the range', () => {
    for (const s of numeric) {
      const min = s.min as number;
      const max = s.max as number;
      const bad = [String(min - 1), String(max + 1), '1.5', 'NaN', 'Infinity', '1e3', '0x10', ' ', String(2 ** 60)];
      for (const value of bad) {
        for (const source of ['env', 'flag'] as const) {
          const run = () =>
            source === 'env' ? loadConfig([], { [s.env]: value }) : loadConfig([`${flagName(s.env)}=${value}`], {});
          assert.throws(
            run,
            (err: unknown) => {
              assert.ok(err instanceof ConfigError);
              assert.ok(err.message.includes(s.env), err.message);
              assert.ok(err.message.includes(`from ${min} to ${max}`), err.message);
              return true;
            },
            `${s.env}=${JSON.stringify(value)} from ${source}`,
          );
        }
      }
      assert.equal(loadConfig([], { [s.env]: String(min) })[s.key], min);
      assert.equal(loadConfig([], { [s.env]: String(max) })[s.key], max);
    }
  });
});

describe('cluster settings', () => {
  const DB = 'postgres://postgres@127.0.0.1/badgesync';
  test('[CONF-4] a malformed cluster setting stops the start with a ConfigError naming it', () => {
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ BADGESYNC_DATABASE_URL: 'mysql://db/badgesync' }, /BADGESYNC_DATABASE_URL/],
      [{ BADGESYNC_DATABASE_URL: DB, BADGESYNC_REDIS_URL: 'http://cache:6379' }, /BADGESYNC_REDIS_URL/],
      [{ BADGESYNC_REDIS_URL: 'redis://cache:6379' }, /needs BADGESYNC_DATABASE_URL/],
      [{ BADGESYNC_NODE_ID: 'has space' }, /BADGESYNC_NODE_ID/],
      [{ BADGESYNC_NODE_ID: 'x'.repeat(10_000) }, /BADGESYNC_NODE_ID/],
      [{ BADGESYNC_NODE_ID: 'nul\u0000id' }, /BADGESYNC_NODE_ID/],
      [{ BADGESYNC_REDIS_PREFIX: 'tab\tprefix' }, /BADGESYNC_REDIS_PREFIX/],
      [{ BADGESYNC_REDIS_PREFIX: 'p'.repeat(65) }, /BADGESYNC_REDIS_PREFIX/],
      [{ BADGESYNC_DRAIN_MS: '-1' }, /BADGESYNC_DRAIN_MS/],
      [{ BADGESYNC_DRAIN_MS: 'soon' }, /BADGESYNC_DRAIN_MS/],
    ];
    for (const [env, message] of bad) {
      assert.throws(
        () => loadConfig([], env),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, JSON.stringify(env));
          assert.match(err.message, message, JSON.stringify(env));
          return true;
        },
      );
    }
    const good = loadConfig([], {
      BADGESYNC_DATABASE_URL: DB,
      BADGESYNC_REDIS_URL: 'rediss://cache:6380/2',
      BADGESYNC_NODE_ID: 'node-a.eu-1',
      BADGESYNC_REDIS_PREFIX: 'shop:',
    });
    assert.equal(good.redisUrl, 'rediss://cache:6380/2');
    assert.equal(good.nodeId, 'node-a.eu-1');
  });
});
