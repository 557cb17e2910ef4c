/**
 * The fuzzer's oracle can fail: against a deliberately fragile stand-in server (an uncaught
 * URIError on a bad percent-escape, a 500 on one path) it records each fault once under its
 * own signature with the input that showed it, restarts the dead process and goes on, and
 * its mutations find the crash from the recorded corpus.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, test } from 'vitest';
import { startServer, stopAll } from '../helpers/server-process.js';
import { loadHttpCorpus, loadSyncCorpus } from './corpus.js';
import { Fuzzer, type Launch } from './harness.js';

const FRAGILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fragile-server.ts');
const launchFragile: Launch = (dir) =>
  startServer({ ...(dir === undefined ? {} : { dir }), args: ['--import', 'tsx', FRAGILE] });

/** A fixed seed: the stand-in is deterministic, so this run is too. */
const SEED = 20_251_202;
/** Far more than the few seconds the search takes; the test stops at the first find. */
const SEARCH_MS = 30_000;

const upgrade = (target: string) =>
  Buffer.from(
    `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );

function fragileFuzzer(): Fuzzer {
  return new Fuzzer({
    launch: launchFragile,
    httpCorpus: loadHttpCorpus(),
    syncCorpus: loadSyncCorpus(),
    bystander: false,
  });
}

describe('the fuzzer notices what it must', () => {
  afterAll(stopAll);

  test('a crash is one failure however often it happens; the server is restarted and fuzzing goes on', async () => {
    const fuzzer = fragileFuzzer();
    await fuzzer.start();
    try {
      const firstPid = fuzzer.server.child.pid;
      await fuzzer.runHttp(upgrade('/v1/sync/%zz'));
      await fuzzer.runHttp(upgrade('/v1/sync/%'));
      assert.equal(fuzzer.stats.http.crashes, 2);
      assert.equal(fuzzer.restarts, 2);
      assert.notEqual(fuzzer.server.child.pid, firstPid, 'a new process');
      const failures = fuzzer.distinct;
      assert.equal(failures.length, 1, JSON.stringify(failures.map((f) => f.signature)));
      const [crash] = failures;
      assert.match(crash?.signature ?? '', /^http crash: URIError: URI malformed/);
      assert.equal(crash?.count, 2);
      assert.equal(Buffer.from(crash?.input.bytes ?? '', 'base64').toString(), upgrade('/v1/sync/%zz').toString());

      await fuzzer.runHttp(Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      await fuzzer.runHttp(Buffer.from('GET /boom HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.deepEqual(
        fuzzer.distinct.map((f) => f.signature).sort(),
        ['http 500: 500', 'http crash: URIError: URI malformed'],
        'the 500 is a second, distinct failure; the healthy answer none',
      );
    } finally {
      await fuzzer.stop();
    }
  });

  test('mutating the recorded corpus finds the crash', async () => {
    const fuzzer = fragileFuzzer();
    await fuzzer.start();
    console.log(`[fuzz oracle] seed=${SEED}`);
    try {
      const deadline = Date.now() + SEARCH_MS;
      for (let slice = 0; fuzzer.stats.http.crashes === 0 && Date.now() < deadline; slice++) {
        await fuzzer.fuzzHttp(SEED + slice, 2_000);
      }
      // The stand-in dies on a bad percent-escape (URIError) or on a target `new URL` rejects.
      const crash = fuzzer.distinct.find((f) => f.signature.startsWith('http crash: '));
      const found = fuzzer.distinct.map((f) => f.signature).join('; ');
      assert.ok(crash, `no crash in ${fuzzer.stats.http.execs} inputs: ${found}`);
      assert.match(crash.signature, /^http crash: (URIError: URI malformed|TypeError: Invalid URL)/);
      assert.match(Buffer.from(crash.input.bytes ?? '', 'base64').toString('latin1'), /%|http:\/\/\[|\/\//);
    } finally {
      await fuzzer.stop();
    }
  });
});
