/**
 * scripts/setup-services.sh (SPEC CLUSTER-12), without installing anything: its reachability
 * checks, and that a machine where both services answer is left alone (an `apt-get` that
 * records its calls, first on PATH, is never called).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, test } from 'vitest';
import { freePort } from './cluster-redis-rig.js';

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const SCRIPT = join(ROOT, 'scripts/setup-services.sh');
const fakeBin = mkdtempSync(join(tmpdir(), 'badgesync-fake-apt-'));
const aptCalls = join(fakeBin, 'apt-get.calls');
writeFileSync(join(fakeBin, 'apt-get'), `#!/bin/sh\necho "$@" >> '${aptCalls}'\nexit 1\n`);
chmodSync(join(fakeBin, 'apt-get'), 0o755);

function run(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync('bash', [SCRIPT, ...args], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${fakeBin}:${process.env.PATH}`, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

afterAll(() => rmSync(fakeBin, { recursive: true, force: true }));

describe('scripts/setup-services.sh', () => {
  test('[CLUSTER-12] --check: both services of this machine are reachable', () => {
    const { status, out } = run(['--check']);
    assert.match(out, /postgresql: reachable \(127\.0\.0\.1:5432\)/);
    assert.match(out, /redis: reachable \(127\.0\.0\.1:6379\)/);
    assert.equal(status, 0, out);
  });

  test('[CLUSTER-12] --check: a port nothing listens on is not reachable, exit 1', async () => {
    const closed = String(await freePort());
    const redis = run(['--check'], { BADGESYNC_SETUP_REDIS_PORT: closed });
    assert.match(redis.out, new RegExp(`redis: not reachable \\(127\\.0\\.0\\.1:${closed}\\)`));
    assert.match(redis.out, /postgresql: reachable/);
    assert.equal(redis.status, 1);
    const pg = run(['--check'], { BADGESYNC_SETUP_PG_PORT: closed });
    assert.match(pg.out, new RegExp(`postgresql: not reachable \\(127\\.0\\.0\\.1:${closed}\\)`));
    assert.equal(pg.status, 1);
  });

  test('[CLUSTER-12] both reachable: nothing is installed or started', () => {
    const { status, out } = run([]);
    assert.equal(status, 0, out);
    assert.match(out, /postgresql: reachable .*left alone/);
    assert.match(out, /redis: reachable .*left alone/);
    assert.equal(existsSync(aptCalls), false, 'apt-get was called');
  });

  test('[CLUSTER-12] setup.sh runs it unless BADGESYNC_SETUP_SERVICES=0, and both scripts parse', () => {
    const setup = spawnSync('bash', ['-n', join(ROOT, 'scripts/setup.sh')]);
    assert.equal(setup.status, 0);
    assert.equal(spawnSync('bash', ['-n', SCRIPT]).status, 0);
    const text = readFileSync(join(ROOT, 'scripts/setup.sh'), 'utf8');
    assert.match(text, /BADGESYNC_SETUP_SERVICES:-1}" != "0" \]; then\n\s+bash scripts\/setup-services\.sh/);
  });
});
