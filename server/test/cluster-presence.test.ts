/**
 * Cluster-wide presence over the machine's Redis (a random key prefix per run), with short
 * heartbeats; a node "killed" is a child process sent SIGKILL (SPEC CLUSTER-9..CLUSTER-11).
 * No timing assertion: only "eventually, within a generous bound", by polling.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, test } from 'vitest';
import { PresenceDirectory } from '../src/cluster/presence-directory.js';
import { nodeKey, nodesKey, presenceKey } from '../src/cluster/redis-keys.js';
import {
  deletePrefix,
  eventually,
  HAS_REDIS_SERVER,
  NO_REDIS_SERVER,
  REDIS_URL,
  randomPrefix,
  silentLog,
  sleep,
  ThrowawayRedis,
} from './cluster-redis-rig.js';

const SERVER_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const HEARTBEAT_MS = 100;
/**
 * Ten heartbeats: a node's key outlives a stall of its process of 0.9 s (a loaded machine, a
 * GC pause) where four heartbeats left a live node's devices offline after 0.4 s.
 */
const NODE_TTL_MS = 1_000;
/** Generous: the bound under test is NODE_TTL_MS; a loaded machine may add seconds. */
const BOUND_MS = 20_000;
/** 20 s for the child (tsx included) to print ready on a loaded machine. */
const CHILD_START_MS = 20_000;

const prefix = randomPrefix();
const alice = 'alice' as AccountId;
const bob = 'bob' as AccountId;
const phone = 'phone' as DeviceId;
const laptop = 'laptop' as DeviceId;

const directories: PresenceDirectory[] = [];
const children = new Set<ChildProcess>();

async function directory(
  nodeId: string,
  url = REDIS_URL,
  options: { sweepMs?: number } = {},
): Promise<PresenceDirectory> {
  const opened = await PresenceDirectory.open({
    redisUrl: url,
    prefix,
    nodeId,
    log: silentLog,
    heartbeatMs: HEARTBEAT_MS,
    nodeTtlMs: NODE_TTL_MS,
    ...options,
  });
  directories.push(opened);
  return opened;
}

/** A node in its own process holding `devices` (`account/device`). */
async function nodeProcess(nodeId: string, devices: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/cluster-presence-node.ts'], {
    cwd: SERVER_DIR,
    env: {
      ...process.env,
      PRESENCE_REDIS_URL: REDIS_URL,
      PRESENCE_PREFIX: prefix,
      PRESENCE_NODE_ID: nodeId,
      PRESENCE_HEARTBEAT_MS: String(HEARTBEAT_MS),
      PRESENCE_NODE_TTL_MS: String(NODE_TTL_MS),
      PRESENCE_DEVICES: devices.join(','),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`presence node did not start\n${stderr}`)), CHILD_START_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`presence node exited with ${code}\n${stderr}`));
    });
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await exited;
  children.delete(child);
}

/** Polls for `ms` and fails if `check` ever answers false. */
async function holdsFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    assert.ok(await check(), what);
    await sleep(25);
  }
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((d) => d.close()));
  await Promise.all([...children].map(kill9));
});

afterAll(async () => {
  await deletePrefix(REDIS_URL, prefix);
});

describe('PresenceDirectory', () => {
  test('[CLUSTER-9] online, isOnline, offline; per account and device', async () => {
    const a = await directory('node-a');
    const b = await directory('node-b');
    assert.equal(await b.isOnline(alice, phone), false);
    await a.online(alice, phone);
    assert.equal(await b.isOnline(alice, phone), true, 'seen from another node');
    assert.equal(await a.isOnline(alice, phone), true);
    assert.equal(await b.isOnline(alice, laptop), false);
    assert.equal(await b.isOnline(bob, phone), false);
    await a.offline(alice, phone);
    assert.equal(await b.isOnline(alice, phone), false);
  });

  test('[CLUSTER-9] two connections of a device on one node: online until both closed', async () => {
    const a = await directory('node-a');
    await a.online(alice, phone);
    await a.online(alice, phone);
    await a.offline(alice, phone);
    assert.equal(await a.isOnline(alice, phone), true);
    await a.offline(alice, phone);
    assert.equal(await a.isOnline(alice, phone), false);
    await a.offline(alice, phone);
    assert.equal(a.heldCount, 0, 'an extra offline is ignored');
  });

  test('[CLUSTER-9] a device connected on two nodes stays online until both let go', async () => {
    const a = await directory('node-a');
    const b = await directory('node-b');
    await a.online(alice, phone);
    await b.online(alice, phone);
    await a.offline(alice, phone);
    assert.equal(await a.isOnline(alice, phone), true);
    await b.offline(alice, phone);
    assert.equal(await a.isOnline(alice, phone), false);
  });

  test('[CLUSTER-10] a live node keeps its devices online across many TTLs (the heartbeat works)', async () => {
    const a = await directory('node-a');
    const b = await directory('node-b');
    await a.online(alice, phone);
    await holdsFor('alice/phone stays online', NODE_TTL_MS * 4, () => b.isOnline(alice, phone));
  });

  test('[CLUSTER-10] a killed node loses its devices within the bound; one it shares with a live node stays', async () => {
    const b = await directory('node-b');
    const killed = await nodeProcess('node-killed', ['alice/phone', 'alice/laptop', 'bob/phone']);
    await b.online(bob, phone);
    assert.equal(await b.isOnline(alice, phone), true);
    assert.equal(await b.isOnline(alice, laptop), true);
    await kill9(killed);
    const killedAt = Date.now();
    await eventually('the killed node’s devices are offline', BOUND_MS, async () => {
      return !(await b.isOnline(alice, phone)) && !(await b.isOnline(alice, laptop));
    });
    console.log(`[CLUSTER-10] offline ${Date.now() - killedAt} ms after SIGKILL (node TTL ${NODE_TTL_MS} ms)`);
    assert.equal(await b.isOnline(bob, phone), true, 'b still holds bob/phone');
  });

  test('[CLUSTER-10] a sweep removes a dead node’s leftovers from Redis', async () => {
    const killed = await nodeProcess('node-swept', ['alice/phone']);
    const redis = new Redis(REDIS_URL);
    try {
      assert.equal(await redis.hexists(presenceKey(prefix, alice, phone), 'node-swept'), 1);
      await kill9(killed);
      await eventually(
        'node-swept’s key expired',
        BOUND_MS,
        async () => (await redis.exists(nodeKey(prefix, 'node-swept'))) === 0,
      );
      await directory('node-sweeper', REDIS_URL, { sweepMs: 0 });
      await eventually('the sweep removed node-swept', BOUND_MS, async () => {
        return (
          (await redis.hexists(presenceKey(prefix, alice, phone), 'node-swept')) === 0 &&
          (await redis.sismember(nodesKey(prefix), 'node-swept')) === 0
        );
      });
    } finally {
      redis.disconnect();
    }
  });

  test('[CLUSTER-9] close() leaves: the node’s devices go offline at once', async () => {
    const a = await directory('node-a');
    const b = await directory('node-b');
    await a.online(alice, phone);
    await a.close();
    assert.equal(await b.isOnline(alice, phone), false);
  });

  test('[CLUSTER-11] a presence write Redis refused is made good by the next heartbeat', async ({ skip }) => {
    skip(!HAS_REDIS_SERVER, NO_REDIS_SERVER);
    // On a throwaway Redis, whose ACL this test may change: HDEL is refused for a while, so
    // the offline() write fails; once allowed again, the heartbeat's rewrite removes the pair.
    const redis = await ThrowawayRedis.start();
    const control = new Redis(redis.url);
    control.on('error', () => {});
    try {
      const a = await directory('node-a', redis.url);
      const b = await directory('node-b', redis.url);
      await a.online(alice, phone);
      await control.acl('SETUSER', 'default', '-hdel');
      await a.offline(alice, phone);
      await holdsFor('the refused offline left the pair in Redis', HEARTBEAT_MS * 3, () => b.isOnline(alice, phone));
      await control.acl('SETUSER', 'default', '+hdel');
      await eventually(
        'the heartbeat rewrote node-a without the pair',
        BOUND_MS,
        async () => !(await b.isOnline(alice, phone)),
      );
    } finally {
      await Promise.all(directories.splice(0).map((d) => d.close()));
      control.disconnect();
      await redis.stop();
    }
  });

  test('[CLUSTER-11] after Redis restarts empty, each node writes its presence again within a heartbeat', async ({
    skip,
  }) => {
    skip(!HAS_REDIS_SERVER, NO_REDIS_SERVER);
    const redis = await ThrowawayRedis.start();
    try {
      const a = await directory('node-a', redis.url);
      const b = await directory('node-b', redis.url);
      await a.online(alice, phone);
      await b.online(bob, laptop);
      await redis.kill9();
      await redis.restart();
      await eventually('both nodes rewrote their presence', BOUND_MS, async () => {
        try {
          return (await b.isOnline(alice, phone)) && (await a.isOnline(bob, laptop));
        } catch {
          return false;
        }
      });
      await a.offline(alice, phone);
      assert.equal(await b.isOnline(alice, phone), false);
    } finally {
      await Promise.all(directories.splice(0).map((d) => d.close()));
      await redis.stop();
    }
  });
});
