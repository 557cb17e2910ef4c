import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, test } from 'vitest';
import { api } from '../helpers/api-client.js';
import { eventually } from '../helpers/eventually.js';
import { connectDevice, synced } from '../helpers/providers.js';
import { startServer, stopAll } from '../helpers/server-process.js';

const SERVER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../server');
const folders: string[] = [];
const children = new Set<ChildProcess>();

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'badgesync-cli-'));
  folders.push(dir);
  return dir;
}

/** Environment without any BADGESYNC_ variable, so only flags configure the process. */
function bareEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BADGESYNC_')));
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: SERVER_DIR,
    env: bareEnv(),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

interface Started {
  readonly port: number;
  readonly stderr: () => string;
  readonly lines: string[];
  stop(): Promise<void>;
}

/** `badgesync serve` configured by flags only; resolves once it listens. */
function serveWithFlags(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve', ...args], {
    cwd: SERVER_DIR,
    env: bareEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; port?: number };
      if (entry.msg === 'badgesync listening') {
        resolve({
          port: entry.port as number,
          stderr: () => stderr,
          lines,
          stop: () =>
            new Promise<void>((done) => {
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        });
      }
    });
  });
}

describe('command line and configuration', () => {
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await stopAll();
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  });

  test('[OPS-4] --help lists every setting with its variable and flag; an unknown command exits 2', () => {
    const help = cli(['--help']);
    assert.equal(help.status, 0);
    for (const name of ['BADGESYNC_PORT', 'BADGESYNC_DB', 'BADGESYNC_HEARTBEAT_MS', 'BADGESYNC_APNS_HOST']) {
      assert.match(help.stdout, new RegExp(name));
    }
    assert.match(help.stdout, /--offline-grace-ms/);
    const unknown = cli(['frobnicate']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command frobnicate/);
  });

  test('[CONF-1] a bad number or an unknown flag stops the start with exit 2 and says why', () => {
    const bad = cli(['serve', '--port', 'eighty']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /BADGESYNC_PORT must be an integer/);
    const unknown = cli(['serve', '--colour', 'red']);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown option --colour/);
  });

  test('[CONF-3] a numeric setting at 0, negative or absurdly large stops the start, naming setting, value and range', () => {
    for (const [flag, env, value] of [
      ['--heartbeat-ms', 'BADGESYNC_HEARTBEAT_MS', '0'],
      ['--max-message-bytes', 'BADGESYNC_MAX_MESSAGE_BYTES', '0'],
      ['--push-delay-ms', 'BADGESYNC_PUSH_DELAY_MS', '-5'],
      ['--port', 'BADGESYNC_PORT', String(2 ** 60)],
    ] as const) {
      const run = cli(['serve', `${flag}=${value}`]);
      assert.equal(run.status, 2, `${env}=${value} must stop the start`);
      assert.ok(run.stderr.includes(env) && run.stderr.includes(JSON.stringify(value)), run.stderr);
      assert.match(run.stderr, /from \d+ to \d+/);
    }
  });

  test('[OPS-9] a node whose database file cannot be made says why and exits 1: the commit thread started early does not hold it', () => {
    const dir = tempDir();
    const file = path.join(dir, 'a-file');
    writeFileSync(file, 'not a folder');
    const run = cli(['serve', '--port', '0', '--host', '127.0.0.1', '--db', path.join(file, 'badgesync.db')]);
    assert.equal(run.status, 1, `exit status (null: still running after 30 s)\n${run.stderr}`);
    assert.match(run.stderr, /^badgesync: .*a-file/m);
  });

  test('[CONF-1][CONF-2][OPS-1] flags alone configure a server; generated secrets are printed once and kept', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'flags.db');
    const first = await serveWithFlags(['--port', '0', '--host', '127.0.0.1', '--db', db]);
    // Written to stderr before "listening" reaches stdout, but two pipes may deliver out of order.
    await eventually(async () => /BADGESYNC_DEVICE_SECRET=\S+/.test(first.stderr()), 10_000, 'the printed secrets');
    const key = /BADGESYNC_API_KEY=(\S+)/.exec(first.stderr())?.[1];
    assert.ok(key, 'the generated API key is printed');
    assert.match(first.stderr(), /BADGESYNC_DEVICE_SECRET=\S+/);
    const http = `http://127.0.0.1:${first.port}`;
    const posted = await api({ http, apiKey: key }, 'POST', '/v1/accounts/cli/items', { thread: 't' });
    assert.equal(posted.status, 200, 'the printed key works');
    for (const line of first.lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof entry.level, 'number', 'every log line is JSON with a level');
      assert.equal(typeof entry.time, 'string');
      assert.equal(typeof entry.msg, 'string');
    }
    await first.stop();

    const second = await serveWithFlags(['--port=0', '--host=127.0.0.1', `--db=${db}`]);
    assert.doesNotMatch(second.stderr(), /BADGESYNC_API_KEY=/, 'printed once: the second start keeps them');
    const again = await api({ http: `http://127.0.0.1:${second.port}`, apiKey: key }, 'GET', '/v1/accounts/cli/badge');
    assert.deepEqual(again.body, { badge: 1, threads: { t: 1 }, muted: [] });
    await second.stop();
  });

  test('[OPS-4] badgesync token mints a token the server accepts', async () => {
    const server = await startServer();
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/main.ts', 'token', '--account', 'tok', '--device', 'phone', '--ttl-seconds', '60'],
      { cwd: SERVER_DIR, env: { ...bareEnv(), BADGESYNC_DEVICE_SECRET: server.deviceSecret }, encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    const token = run.stdout.trim();
    const device = await connectDevice(server, 'tok', 'phone', { token });
    await synced(device);
    device.destroy();
  });
});
