/**
 * The server's modules form no import cycle, type-only imports included: every part can be
 * read, tested and replaced starting from the parts it needs. The interfaces between the
 * rooms, the API and push live in server/src/push/ports.ts, which imports none of them.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, test } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...tsFiles(file));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(file);
  }
  return out;
}

/** The files of `dir` a file imports or re-exports (`import type` too); packages are left out. */
function localImports(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const out: string[] = [];
  for (const { fileName } of importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), fileName).replace(/\.js$/, '.ts');
    if (!existsSync(target)) throw new Error(`${path.relative(SRC, file)} imports ${fileName}, which does not exist`);
    out.push(target);
  }
  return out;
}

/** Every cycle found by a depth-first walk, each as the files around it, starting and ending at the same file. */
function importCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const done = new Set<string>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const visit = (file: string): void => {
    stack.push(file);
    onStack.add(file);
    for (const next of graph.get(file) ?? []) {
      if (onStack.has(next)) cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!done.has(next)) visit(next);
    }
    stack.pop();
    onStack.delete(file);
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) if (!done.has(file)) visit(file);
  return cycles;
}

describe('server imports', () => {
  test('the cycle finder finds a cycle, type-only or not', () => {
    const graph = new Map([
      ['server.ts', ['push/push-scheduler.ts', 'config.ts']],
      ['push/push-scheduler.ts', ['server.ts']],
      ['config.ts', []],
    ]);
    assert.deepEqual(importCycles(graph), [['push/push-scheduler.ts', 'server.ts', 'push/push-scheduler.ts']]);
    assert.deepEqual(
      importCycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
      [],
    );
  });

  test('no module of server/src imports itself through others', () => {
    const files = tsFiles(SRC);
    assert.ok(files.length > 30, `found only ${files.length} files under ${SRC}`);
    const graph = new Map(
      files.map((file) => [path.relative(SRC, file), localImports(file).map((t) => path.relative(SRC, t))]),
    );
    const cycles = importCycles(graph).map((cycle) => cycle.join(' → '));
    assert.deepEqual(cycles, []);
  });
});
