/**
 * docs/ERRORS.md documents every code of the catalogues (SPEC ERR-1): each HTTP error with
 * its status, each refusal reason with its close code, each close code. A code added to
 * shared/src without a line there fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'vitest';
import { AwarenessDropReason, BusFrameError, CloseCode, HttpError, RefusalReason, refusalCode } from '../src/index.js';

const errors = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
/** The table rows of the file, split into trimmed cells. */
const rows = errors
  .split('\n')
  .filter((line) => line.startsWith('|'))
  .map((line) =>
    line
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim()),
  );

function rowStartingWith(first: string): string[] | undefined {
  return rows.find((cells) => cells[0] === first);
}

describe('docs/ERRORS.md (ERR-1)', () => {
  test('documents every HTTP error code with its status and when it happens', () => {
    for (const [code, { status }] of Object.entries(HttpError)) {
      const row = rowStartingWith(`\`${code}\``);
      assert.ok(row, `no row for ${code}`);
      assert.equal(row[1], String(status), `${code}: status`);
      assert.ok((row[2] ?? '').length > 10, `${code}: say when it happens`);
    }
  });

  test('documents every refusal reason with its close code', () => {
    for (const reason of Object.keys(RefusalReason)) {
      const row = rowStartingWith(`\`${reason}\``);
      assert.ok(row, `no row for ${reason}`);
      const code = refusalCode(reason as RefusalReason);
      assert.equal(row[1], String(code), `${reason}: close code`);
      assert.ok((row[2] ?? '').length > 10, `${reason}: say what it means`);
    }
  });

  test('documents every close code with its name and what the client should do', () => {
    for (const [name, code] of Object.entries(CloseCode)) {
      const row = rowStartingWith(String(code));
      assert.ok(row, `no row for ${code}`);
      assert.equal(row[1], `\`${name}\``, `${code}: name`);
      assert.ok((row[2] ?? '').length > 10, `${code}: say when`);
      assert.ok((row[3] ?? '').length > 5, `${code}: say what the client should do`);
    }
  });

  test('documents every awareness drop reason', () => {
    for (const reason of Object.keys(AwarenessDropReason)) {
      const row = rowStartingWith(`\`${reason}\``);
      assert.ok(row, `no row for ${reason}`);
      assert.ok((row[1] ?? '').length > 10, `${reason}: say what it means`);
    }
  });

  test('documents every update bus frame error (CLUSTER-2)', () => {
    for (const code of Object.keys(BusFrameError)) {
      const row = rowStartingWith(`\`${code}\``);
      assert.ok(row, `no row for ${code}`);
      assert.ok((row[1] ?? '').length > 10, `${code}: say what it means`);
    }
  });

  test('has no row for a code the catalogues do not have', () => {
    const known = new Set([
      ...Object.keys(HttpError).map((c) => `\`${c}\``),
      ...Object.keys(RefusalReason).map((r) => `\`${r}\``),
      ...Object.keys(AwarenessDropReason).map((r) => `\`${r}\``),
      ...Object.keys(BusFrameError).map((c) => `\`${c}\``),
      ...Object.values(CloseCode).map(String),
      'code',
      'reason',
    ]);
    const stray = rows.map((cells) => cells[0] as string).filter((first) => !/^-+$/.test(first) && !known.has(first));
    assert.deepEqual(stray, []);
  });
});
