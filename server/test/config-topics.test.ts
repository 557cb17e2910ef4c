/** Which APNs topics a registration may name (SPEC API-9, CONF-1). */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { allowedTopics, ConfigError, loadConfig } from '../src/config.js';

describe('configured APNs topics', () => {
  test('[API-9] BADGESYNC_APNS_TOPIC and each entry of BADGESYNC_APNS_TOPICS are allowed', () => {
    const config = loadConfig([], {
      BADGESYNC_APNS_TOPIC: 'com.example.app',
      BADGESYNC_APNS_TOPICS: ' com.example.app.watchkitapp, ,com.example.beta',
    });
    assert.deepEqual([...(allowedTopics(config) ?? [])].sort(), [
      'com.example.app',
      'com.example.app.watchkitapp',
      'com.example.beta',
    ]);
    const flags = loadConfig(['--apns-topics', 'com.example.watch'], {});
    assert.deepEqual([...(allowedTopics(flags) ?? [])], ['com.example.watch']);
  });

  test('[API-9] no topic configured: any topic (local use, nothing configured to push to)', () => {
    assert.equal(allowedTopics(loadConfig([], {})), null);
  });

  test('[CONF-1] a malformed topic stops the start, naming it', () => {
    assert.throws(
      () => loadConfig([], { BADGESYNC_APNS_TOPICS: 'com.example.app,not a bundle id' }),
      (err: unknown) => err instanceof ConfigError && err.message.includes('"not a bundle id"'),
    );
  });
});
