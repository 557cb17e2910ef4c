/**
 * The write rules read Yjs internals (struct classes, the struct store, how Y.applyUpdate
 * and Y.decodeUpdate read an update) and lib0's varint reader; they were checked against
 * one exact version of each (SPEC RULE-17). Every package that depends on them pins that
 * version, so an install can never bring another one in unnoticed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'vitest';

const ROOT = new URL('../../', import.meta.url);
const PACKAGES = ['shared', 'server', 'client', 'test', 'bench'];

function json(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(path, ROOT), 'utf8')) as Record<string, unknown>;
}

function installed(name: string): string {
  return json(`shared/node_modules/${name}/package.json`).version as string;
}

describe('pinned Yjs', () => {
  test('[RULE-17] every package pins yjs and lib0 to the exact installed version the rules were checked against', () => {
    const pins = { yjs: installed('yjs'), lib0: installed('lib0') };
    assert.deepEqual(
      pins,
      { yjs: '13.6.33', lib0: '0.2.120' },
      'update the pins only after the fuzz and property tests pass',
    );
    for (const dir of PACKAGES) {
      const manifest = json(`${dir}/package.json`);
      for (const field of ['dependencies', 'devDependencies', 'peerDependencies']) {
        const deps = (manifest[field] ?? {}) as Record<string, string>;
        for (const [name, version] of Object.entries(pins)) {
          if (deps[name] !== undefined) assert.equal(deps[name], version, `${dir}/package.json ${field}.${name}`);
        }
      }
    }
  });
});
