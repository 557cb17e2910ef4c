import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { allowedOrigins, ConfigError, loadConfig } from '../src/config.js';

describe('BADGESYNC_CORS_ORIGINS', () => {
  test('[API-10] exact origins, trimmed and lowercased; none by default; anything else stops the start', () => {
    assert.deepEqual([...allowedOrigins(loadConfig([], {}))], []);
    const set = allowedOrigins({ corsOrigins: ' https://App.example.com , http://127.0.0.1:5173,,http://[::1]:80 ' });
    assert.deepEqual([...set], ['https://app.example.com', 'http://127.0.0.1:5173', 'http://[::1]:80']);
    for (const bad of ['*', 'https://app.example.com/', 'app.example.com', 'https://app.example.com/path', 'null']) {
      assert.throws(() => loadConfig([], { BADGESYNC_CORS_ORIGINS: bad }), ConfigError, bad);
    }
  });
});
