import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { ConfigError, configHelp } from '../src/config.js';
import { readTestHooks } from '../src/test-hooks.js';

describe('test hooks', () => {
  test('[OPS-5] the commit hold is read only under NODE_ENV=test, and a bad value stops the start', () => {
    const delay = { BADGESYNC_TEST_COMMIT_DELAY_MS: '150' };
    assert.equal(readTestHooks({ ...delay }).commitDelayMs, 0, 'no NODE_ENV: off');
    assert.equal(readTestHooks({ ...delay, NODE_ENV: 'production' }).commitDelayMs, 0, 'production: off');
    assert.equal(readTestHooks({ ...delay, NODE_ENV: 'test' }).commitDelayMs, 150);
    assert.equal(readTestHooks({ NODE_ENV: 'test' }).commitDelayMs, 0, 'unset: off');
    assert.doesNotMatch(configHelp(), /TEST|commit-delay/i, '--help does not advertise it');
    for (const bad of ['-1', '1.5', 'soon', '10001']) {
      assert.throws(() => readTestHooks({ NODE_ENV: 'test', BADGESYNC_TEST_COMMIT_DELAY_MS: bad }), ConfigError, bad);
    }
  });
});
