/**
 * docs/SPEC.md and the server's and SDK's code and tests quote the same rules: every server rule ID
 * named in code or tests is defined, and every defined server rule is quoted by the name of
 * at least one test (unit, contract or end-to-end).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const PREFIXES = [
  'AUTH',
  'SYNC',
  'BUDGET',
  'AWARE',
  'CONN',
  'CLOSE',
  'API',
  'EDGE',
  'STORE',
  'PUSH',
  'OPS',
  'CONF',
  'ERR',
  'SDK',
  'CLUSTER',
];
const ID = new RegExp(`\\b(?:${PREFIXES.join('|')})-\\d+\\b`, 'g');
const spec = readFileSync(path.join(ROOT, 'docs/SPEC.md'), 'utf8');
const ours = (id: string) => PREFIXES.some((p) => id.startsWith(`${p}-`));
const defined = [...spec.matchAll(/^- \*\*\[([A-Z]+-\d+)\]\*\*/gm)].map((m) => m[1] as string).filter(ours);
/** Rules retired by a later one (struck through, never reused): still named by older tests and comments. */
const retired = [...spec.matchAll(/^- ~~\*\*\[([A-Z]+-\d+)\]\*\*~~/gm)].map((m) => m[1] as string).filter(ours);

function tsFiles(dir: string): string[] {
  const full = path.join(ROOT, dir);
  const out: string[] = [];
  for (const name of readdirSync(full)) {
    const file = path.join(full, name);
    if (statSync(file).isDirectory()) out.push(...tsFiles(path.join(dir, name)));
    else if (name.endsWith('.ts')) out.push(file);
  }
  return out;
}

const code = ['server/src', 'client/src'].flatMap(tsFiles);
const tests = ['server/test', 'test/e2e', 'client/test'].flatMap(tsFiles);

function testNames(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/\b(?:test|it|describe)\(\s*[`'"](.*?)[`'"]\s*,/g)].map((m) => m[1] as string);
}

describe('SPEC.md server sections', () => {
  test('[ERR-1] define each server rule ID once', () => {
    const all = [...defined, ...retired];
    assert.deepEqual(
      all.filter((id, i) => all.indexOf(id) !== i),
      [],
    );
    for (const prefix of PREFIXES)
      assert.ok(
        defined.some((id) => id.startsWith(`${prefix}-`)),
        prefix,
      );
  });

  test('[ERR-1] define every server rule ID that code or tests name', () => {
    const named = new Set([...code, ...tests].flatMap((file) => readFileSync(file, 'utf8').match(ID) ?? []));
    assert.deepEqual([...named].filter((id) => !defined.includes(id) && !retired.includes(id)).sort(), []);
  });

  test('[ERR-1] every server rule is quoted by the name of a test', () => {
    const quoted = new Set(tests.flatMap(testNames).flatMap((name) => name.match(ID) ?? []));
    assert.deepEqual(
      defined.filter((id) => !quoted.has(id)),
      [],
    );
  });
});
