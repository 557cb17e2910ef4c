/**
 * docs/SPEC.md and the code quote the same rules: every rule ID the shared code names is
 * defined, every ID a shared test quotes exists, every rule has a test, and every refusal
 * reason is documented with its close code.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'vitest';
import { RefusalReason, refusalCode } from '../src/index.js';

const root = new URL('../../', import.meta.url);
const spec = readFileSync(new URL('docs/SPEC.md', root), 'utf8');
const PREFIXES = ['ID', 'DOC', 'COUNT', 'MARK', 'RULE'];
const ID = new RegExp(`\\b(?:${PREFIXES.join('|')})-\\d+\\b`, 'g');

function filesIn(dir: string, pattern: RegExp): string[] {
  const url = new URL(dir, root);
  return readdirSync(url)
    .filter((name) => pattern.test(name))
    .map((name) => readFileSync(new URL(name, url), 'utf8'));
}

/** The rules SPEC.md defines: list items that start with the bold ID. */
const live = [...spec.matchAll(/^- \*\*\[([A-Z]+-\d+)\]\*\*/gm)].map((m) => m[1] as string);
/**
 * Retired rules: list items that start with the bold ID struck through. Code and tests may
 * still name them (the v1 reader that converts old documents); they need no test.
 */
const retired = [...spec.matchAll(/^- ~~\*\*\[([A-Z]+-\d+)\]\*\*~~/gm)].map((m) => m[1] as string);
const defined = [...live, ...retired];

describe('SPEC.md', () => {
  test('starts with its title and leaves the marker for the server sections', () => {
    assert.ok(spec.startsWith('# badgesync specification\n'));
    assert.ok(spec.split('\n').includes('<!-- server sections follow -->'));
  });

  test('defines each rule ID once', () => {
    assert.deepEqual(
      defined.filter((id, i) => defined.indexOf(id) !== i),
      [],
    );
    for (const prefix of PREFIXES)
      assert.ok(
        defined.some((id) => id.startsWith(`${prefix}-`)),
        prefix,
      );
  });

  test('defines every rule ID the shared code names', () => {
    const named = new Set(filesIn('shared/src/', /\.ts$/).flatMap((text) => text.match(ID) ?? []));
    assert.deepEqual([...named].filter((id) => !defined.includes(id)).sort(), []);
  });

  test('defines every rule ID a shared test quotes, and every rule has a test that quotes it', () => {
    const names = filesIn('shared/test/', /\.test\.ts$/).flatMap((text) =>
      [...text.matchAll(/\b(?:test|describe)\(\s*[`'"](.*?)[`'"]\s*,/g)].map((m) => m[1] as string),
    );
    const quoted = new Set(names.flatMap((name) => [...name.matchAll(/\[([A-Z]+-\d+)\]/g)].map((m) => m[1] as string)));
    assert.deepEqual([...quoted].filter((id) => !defined.includes(id)).sort(), [], 'quoted but not defined');
    const mine = live.filter((id) => PREFIXES.some((p) => id.startsWith(`${p}-`)));
    assert.deepEqual(
      mine.filter((id) => !quoted.has(id)),
      [],
      'defined but no test quotes it',
    );
  });

  test('documents every refusal reason with its close code', () => {
    for (const reason of Object.keys(RefusalReason)) {
      const code = refusalCode(reason as RefusalReason);
      assert.match(spec, new RegExp(`\\| \`${reason}\` +\\| ${code} +\\| \\[(?:RULE|BUDGET)-\\d+\\] +\\|`), reason);
    }
  });
});
