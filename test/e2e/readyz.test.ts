/**
 * GET /readyz on a single SQLite node (SPEC OPS-6): ready until the SIGTERM, then 503
 * `draining` for BADGESYNC_DRAIN_MS while it still serves; and the cluster settings that do
 * not hang together stop the start with exit 2 (CONF-4).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { startServer, stopAll } from '../helpers/server-process.js';

const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../server');

describe('readiness', () => {
  afterAll(() => stopAll());

  test('[OPS-6][OPS-7][OPS-3] a SQLite node is ready; from the SIGTERM on it answers 503 draining, then exits 0', async () => {
    const server = await startServer({ env: { BADGESYNC_DRAIN_MS: '1500' } });
    assert.deepEqual(await api(server, 'GET', '/readyz', undefined, null), { status: 200, body: { ready: true } });
    const exit = server.stop();
    let answer: { status: number; body: unknown } | null = null;
    while (answer?.status !== 503 && server.child.exitCode === null) {
      answer = await api(server, 'GET', '/readyz', undefined, null).catch(() => null);
    }
    assert.deepEqual(answer, { status: 503, body: { ready: false, reasons: ['draining'] } });
    // Still serving during the drain: liveness is not readiness.
    assert.equal((await api(server, 'GET', '/healthz', undefined, null)).status, 200);
    assert.equal(await exit, 0);
  });

  test('[CONF-4] BADGESYNC_REDIS_URL without BADGESYNC_DATABASE_URL stops the start with exit 2', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BADGESYNC_')));
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
      cwd: SERVER_DIR,
      env: { ...env, BADGESYNC_REDIS_URL: 'redis://127.0.0.1:6379' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /BADGESYNC_REDIS_URL needs BADGESYNC_DATABASE_URL/);
  });
});
