/**
 * [STORE-1] Durability for real: a child process commits batches in a loop and prints each
 * sequence number after commit() returns; the test kills it with SIGKILL mid-stream, reopens
 * the file and finds every printed batch, whole. This proves what a process crash can lose
 * (nothing committed); power-loss safety rests on synchronous=FULL, checked in
 * sqlite-store.test.ts, which no in-process test can cut the power to prove.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, test } from 'vitest';
import { SqliteStore } from '../src/store/index.js';
import { DURABLE_A, DURABLE_B, seqOf } from './fixtures/durability-batch.js';

const serverDir = dirname(dirname(fileURLToPath(import.meta.url)));
const fixture = join(serverDir, 'test', 'fixtures', 'commit-loop.ts');
const dir = mkdtempSync(join(tmpdir(), 'badgesync-kill-'));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Kills this many times: each restart resumes on a file that already survived a kill. */
const ROUNDS = 3;
/**
 * How long one round may take to print its batches before the test gives up. Starting node
 * with tsx takes about half a second; a slow CI disk makes each fsync'd commit slower.
 */
const ROUND_TIMEOUT_MS = 20_000;

/**
 * Runs the child until it has printed `target` more sequence numbers, plus a random few ms
 * so the kill lands anywhere in a commit; returns every number it printed.
 */
function runAndKill(path: string, target: number, thread: boolean): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, path, ...(thread ? ['--thread'] : [])], {
      cwd: serverDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const printed: number[] = [];
    let partial = '';
    let stderr = '';
    let killing = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child printed ${printed.length}/${target} in ${ROUND_TIMEOUT_MS} ms; stderr: ${stderr}`));
    }, ROUND_TIMEOUT_MS);
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) printed.push(Number(line));
      if (!killing && printed.length >= target) {
        killing = true;
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 4));
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (signal === 'SIGKILL' && killing) resolve(printed);
      else reject(new Error(`child exited on its own (code ${code}, signal ${signal}); stderr: ${stderr}`));
    });
  });
}

describe('SqliteStore under kill -9', () => {
  for (const thread of [false, true]) {
    // Three child starts and a few hundred fsync'd commits.
    const name = thread
      ? '[STORE-17] SIGKILL with a batch in flight on the commit thread loses only batches not yet acknowledged, none cut in half'
      : '[STORE-1] SIGKILL mid-stream loses no batch whose commit had returned, and cuts none in half';
    test(name, {
      timeout: ROUNDS * ROUND_TIMEOUT_MS,
    }, async () => {
      const path = join(dir, thread ? 'killed-thread.db' : 'killed.db');
      const printed: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const target = 50 + Math.floor(Math.random() * 150);
        printed.push(...(await runAndKill(path, target, thread)));

        const store = new SqliteStore(path);
        try {
          const seqsA = store.loadDoc(DURABLE_A).updates.map(seqOf);
          const last = seqsA.length;
          const upTo = Array.from({ length: last }, (_, i) => i + 1);
          const where = `round ${round}, target ${target}, last stored ${last}`;
          // Every printed batch is there, and the file holds batches 1..last with no hole.
          assert.ok(last >= Math.max(...printed), `${where}: printed up to ${Math.max(...printed)}`);
          assert.deepEqual(seqsA, upTo, where);
          // Each stored batch is whole: every table it wrote has its part, and nothing after it.
          assert.deepEqual(store.loadDoc(DURABLE_B).updates.map(seqOf), upTo, where);
          assert.equal(store.getCounts(DURABLE_A)?.badge, last, where);
          assert.deepEqual(
            [...store.loadBindings(DURABLE_A).keys()].sort((x, y) => x - y),
            upTo,
            where,
          );
          assert.equal(store.getIdempotent(DURABLE_B, `k${last}`, 0), String(last), where);
          assert.equal(store.getIdempotent(DURABLE_B, `k${last + 1}`, 0), null, where);
        } finally {
          store.close();
        }
      }
    });
  }
});
