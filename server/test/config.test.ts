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
