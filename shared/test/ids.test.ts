import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import {
  ID_PATTERN,
  isAccountId,
  isDeviceId,
  isThreadId,
  isValidId,
  parseAccountId,
  parseDeviceId,
  parseReadsKey,
  parseThreadId,
  READS_KEY_SEPARATOR,
  readsKey,
  SERVER_DEVICE,
} from '../src/index.js';
import { propertyParams } from './helpers/seed.js';

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:@-';

/** Valid IDs: 1–128 characters of the ID set. */
const idArbitrary = fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 128 });

describe('IDs', () => {
  test('[ID-1] valid IDs: the character set, 1 to 128 characters', () => {
    for (const id of ['a', '0', ID_CHARS, 'x'.repeat(128), 'user@example.com', 'chat:1', '-', '.', '@server']) {
      assert.equal(isValidId(id), true, id);
      assert.equal(isAccountId(id), true, id);
      assert.equal(isThreadId(id), true, id);
    }
  });

  test('[ID-1] invalid IDs: empty, too long, other characters, not a string', () => {
    for (const id of ['', 'x'.repeat(129), 'a/b', 'a b', 'é', 'a\n', '\na', 'a\u0000', 'ä', '🙂', '#', 'a+b', 'a%2F']) {
      assert.equal(isValidId(id), false, JSON.stringify(id));
      assert.equal(isDeviceId(id), false, JSON.stringify(id));
    }
    for (const value of [undefined, null, 5, {}, ['a'], new String('a')]) assert.equal(isValidId(value), false);
  });

  test('[ID-1] isValidId agrees with the published pattern on random strings', () => {
    const unit = fc.constantFrom(...`${ID_CHARS}/ \n\u00e9#`);
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 140 }), (s) => {
        const expected = s.length >= 1 && s.length <= 128 && [...s].every((ch) => ID_CHARS.includes(ch));
        assert.equal(isValidId(s), expected);
        assert.equal(ID_PATTERN.test(s), expected);
      }),
      propertyParams('ids pattern', 300),
    );
  });

  test('[ID-2] @server is reserved: a valid ID, never a device ID', () => {
    assert.equal(SERVER_DEVICE, '@server');
    assert.equal(isValidId(SERVER_DEVICE), true);
    assert.equal(isDeviceId(SERVER_DEVICE), false);
    assert.throws(() => parseDeviceId('@server'), TypeError);
    assert.equal(isDeviceId('@server2'), true);
    assert.equal(isDeviceId('server'), true);
  });

  test('[ID-1] parse functions return the ID or throw a TypeError naming the (shortened) value', () => {
    assert.equal(parseAccountId('acct-1'), 'acct-1');
    assert.equal(parseThreadId('t.1'), 't.1');
    assert.equal(parseDeviceId('phone'), 'phone');
    assert.throws(() => parseAccountId('a/b'), { name: 'TypeError', message: 'invalid account ID: "a/b"' });
    assert.throws(() => parseThreadId(7), { name: 'TypeError', message: 'invalid thread ID: 7' });
    assert.throws(() => parseDeviceId(undefined), { name: 'TypeError', message: 'invalid device ID: undefined' });
    const long = 'x'.repeat(1000);
    assert.throws(
      () => parseThreadId(long),
      (err: Error) => err.message.length < 200,
    );
  });

  test('[ID-3] the separator is outside the ID set, so a reads key splits in exactly one way', () => {
    assert.equal(READS_KEY_SEPARATOR, '/');
    assert.equal(isValidId(READS_KEY_SEPARATOR), false);
    fc.assert(
      fc.property(idArbitrary, idArbitrary, (thread, device) => {
        const key = readsKey(thread as never, device as never);
        assert.equal(key.split(READS_KEY_SEPARATOR).length, 2);
        assert.deepEqual(parseReadsKey(key), { thread, device });
      }),
      propertyParams('ids reads key', 300),
    );
  });
});
