import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { closeReason, MAX_CLOSE_REASON_BYTES } from '../src/index.js';

const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

describe('close reasons', () => {
  test('[CLOSE-7] a short ASCII reason is kept whole', () => {
    assert.equal(closeReason('invalid_key: mutes key "x"'), 'invalid_key: mutes key "x"');
    const exact = 'a'.repeat(MAX_CLOSE_REASON_BYTES);
    assert.equal(closeReason(exact), exact);
    assert.equal(closeReason(`${exact}b`), exact);
  });

  test('[CLOSE-7] a multi-byte character that would cross 123 bytes is dropped whole', () => {
    // 122 ASCII bytes, then a 2-byte é: 124 bytes, so the é goes.
    assert.equal(closeReason(`${'a'.repeat(122)}é`), 'a'.repeat(122));
    // 121 + 2 = 123 bytes: it fits exactly.
    assert.equal(closeReason(`${'a'.repeat(121)}éz`), `${'a'.repeat(121)}é`);
    // A 3-byte € and a 4-byte emoji (a surrogate pair in JavaScript) at the boundary.
    assert.equal(closeReason(`${'a'.repeat(121)}€`), 'a'.repeat(121));
    assert.equal(closeReason(`${'a'.repeat(120)}€`), `${'a'.repeat(120)}€`);
    assert.equal(closeReason(`${'a'.repeat(120)}😀`), 'a'.repeat(120));
    assert.equal(closeReason(`${'a'.repeat(119)}😀`), `${'a'.repeat(119)}😀`);
  });

  test('[CLOSE-7] any text comes out within 123 bytes, a prefix of the input, never a broken character', () => {
    const pieces = ['a', 'é', '€', '😀', 'ß', '中'];
    for (let seed = 1; seed <= 500; seed++) {
      let text = '';
      let x = seed;
      for (let i = 0; i < 120; i++) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        text += pieces[x % pieces.length];
      }
      const cut = closeReason(text);
      assert.ok(bytes(cut) <= MAX_CLOSE_REASON_BYTES, `seed ${seed}: ${bytes(cut)} bytes`);
      assert.ok(text.startsWith(cut), `seed ${seed}: a prefix`);
      // Nothing was cut inside a character: the bytes decode to the same text.
      assert.equal(Buffer.from(cut, 'utf8').toString('utf8'), cut, `seed ${seed}`);
      // And nothing more would have fit.
      const next = [...text.slice(cut.length)][0];
      if (next !== undefined) assert.ok(bytes(cut) + bytes(next) > MAX_CLOSE_REASON_BYTES, `seed ${seed}`);
    }
  });

  test('[CLOSE-7] a lone surrogate counts as the 3 bytes of U+FFFD it becomes', () => {
    assert.equal(closeReason(`${'a'.repeat(121)}\uD800`), 'a'.repeat(121));
    assert.equal(closeReason(`${'a'.repeat(120)}\uD800`), `${'a'.repeat(120)}\uD800`);
  });
});
