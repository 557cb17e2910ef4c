import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'vitest';
import { createLogger } from '../src/log.js';

const SECRET = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl';

/** A logger at trace level that writes into a string. */
function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { log: createLogger('trace', sink), text: () => text };
}

describe('log redaction', () => {
  test('[EDGE-5] a URL keeps its path and loses its query; credentials and URL parse errors are redacted', () => {
    const { log, text } = capture();
    log.info({ url: `/v1/sync/alice?token=${SECRET}` }, 'a url');
    log.info(
      { req: { url: `/v1/sync/alice?token=${SECRET}`, headers: { authorization: `Bearer ${SECRET}` } } },
      'a req',
    );
    log.error({ err: Object.assign(new TypeError('Invalid URL'), { input: `http://[?token=${SECRET}` }) }, 'an error');
    log.warn({ token: SECRET, headers: { authorization: `Bearer ${SECRET}` }, apiKey: SECRET }, 'credentials');
    log.debug({ session: { token: SECRET } }, 'nested');
    const out = text();
    assert.equal(out.split('\n').filter(Boolean).length, 5, out);
    assert.ok(!out.includes(SECRET), out);
    assert.ok(!out.includes('c2VjcmV0'), out);
    assert.ok(out.includes('"url":"/v1/sync/alice?[redacted]"'), out);
    assert.ok(out.includes('Invalid URL'), 'the error itself is still logged');
  });
});
