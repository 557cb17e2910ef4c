/**
 * The update bus over the machine's Redis (a random key prefix per run) and over a throwaway
 * `redis-server` this file kills -9 and starts again (SPEC CLUSTER-6..CLUSTER-8).
 */
import assert from 'node:assert/strict';
import type { AccountId } from '@badgesync/shared';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, test } from 'vitest';
import { defaultNodeId, isNodeId } from '../src/cluster/node-id.js';
import {
  connectionName,
  DEFAULT_REDIS_PREFIX,
  handoverChannel,
  isRedisPrefix,
  updatesChannel,
} from '../src/cluster/redis-keys.js';
import { UpdateBus } from '../src/cluster/update-bus.js';
import type { UpdateFrame } from '../src/cluster/update-frame.js';
import {
  clientIdByName,
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

/** Generous: a message crosses a local Redis in a millisecond; a reconnect takes at most ~2 s. */
const BOUND_MS = 20_000;

const alice = 'alice' as AccountId;
const prefix = randomPrefix();
const buses: UpdateBus[] = [];
let admin: Redis;

interface Node {
  readonly bus: UpdateBus;
  readonly received: UpdateFrame[];
  resubscribed: number;
}

async function node(nodeId: string, url = REDIS_URL, onUpdate?: (frame: UpdateFrame) => void): Promise<Node> {
  const received: UpdateFrame[] = [];
  const state = { received, resubscribed: 0 } as { received: UpdateFrame[]; resubscribed: number; bus: UpdateBus };
  state.bus = await UpdateBus.open({
    redisUrl: url,
    prefix,
    nodeId,
    log: silentLog,
    onUpdate: (frame) => {
      received.push(frame);
      onUpdate?.(frame);
    },
    onResubscribed: () => {
      state.resubscribed += 1;
    },
  });
  buses.push(state.bus);
  return state;
}

function seqs(frames: readonly UpdateFrame[]): number[] {
  return frames.map((frame) => frame.seq);
}

beforeAll(async () => {
  admin = new Redis(REDIS_URL);
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

afterAll(async () => {
  await deletePrefix(REDIS_URL, prefix);
  admin.disconnect();
});

describe('UpdateBus', () => {
  test("[CLUSTER-47] a hand-over message reaches every other node's handler, not its sender's; one that names no node is dropped", async () => {
    const heard = new Map<string, string[]>();
    const open = (nodeId: string) =>
      UpdateBus.open({
        redisUrl: REDIS_URL,
        prefix,
        nodeId,
        log: silentLog,
        onUpdate: () => {},
        onResubscribed: () => {},
        onHandover: (origin) => heard.set(nodeId, [...(heard.get(nodeId) ?? []), origin]),
      }).then((bus) => {
        buses.push(bus);
        return bus;
      });
    const [a] = await Promise.all([open('node-a'), open('node-b'), open('node-c')]);
    await admin.publish(handoverChannel(prefix), 'not a node id');
    assert.equal(await a.publishHandover(), true);
    await eventually('both other nodes heard it', BOUND_MS, () => heard.has('node-b') && heard.has('node-c'));
    await sleep(100);
    assert.deepEqual(heard.get('node-b'), ['node-a']);
    assert.deepEqual(heard.get('node-c'), ['node-a']);
    assert.equal(heard.get('node-a'), undefined, 'the sender does not hear itself');
  });

  test('[CLUSTER-1] names: node IDs and prefixes are checked, connections carry CLIENT SETNAME names', async () => {
    assert.ok(isNodeId(defaultNodeId()));
    assert.notEqual(defaultNodeId(), defaultNodeId());
    assert.equal(isNodeId('has space'), false);
    assert.equal(isNodeId('x'.repeat(129)), false);
    assert.equal(isRedisPrefix(DEFAULT_REDIS_PREFIX), true);
    assert.equal(isRedisPrefix('bad prefix'), false);
    assert.equal(isRedisPrefix(''), false);
    const options = { redisUrl: REDIS_URL, log: silentLog, onUpdate: () => {}, onResubscribed: () => {} };
    await assert.rejects(UpdateBus.open({ ...options, prefix, nodeId: 'has space' }), RangeError);
    await assert.rejects(UpdateBus.open({ ...options, prefix: 'bad prefix', nodeId: 'node-a' }), RangeError);
    await node('node-a');
    assert.ok(await clientIdByName(admin, `${prefix}pub:node-a`));
    assert.ok(await clientIdByName(admin, `${prefix}sub:node-a`));
  });

  test('[CLUSTER-6] two nodes exchange updates; neither gets its own back', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    assert.equal(await a.bus.publish(alice, 1, Uint8Array.of(1)), true);
    assert.equal(await b.bus.publish(alice, 2, Uint8Array.of(2, 2)), true);
    assert.equal(await a.bus.publish(alice, 3, Uint8Array.of(3)), true);
    await eventually('b got 1 and 3, a got 2', BOUND_MS, () => b.received.length === 2 && a.received.length === 1);
    assert.deepEqual(seqs(b.received), [1, 3]);
    assert.deepEqual(seqs(a.received), [2]);
    assert.deepEqual({ ...a.received[0] }, { origin: 'node-b', account: alice, seq: 2, update: Uint8Array.of(2, 2) });
    // Own messages: a round trip later (b's publish went through after a's), still none.
    await b.bus.publish(alice, 4, Uint8Array.of(4));
    await eventually('a got 4', BOUND_MS, () => a.received.length === 2);
    assert.deepEqual(seqs(a.received), [2, 4]);
    assert.deepEqual(seqs(b.received), [1, 3]);
  });

  test('[CLUSTER-2] a malformed message on the channel is refused and the bus keeps going', async () => {
    const refused: string[] = [];
    const received: UpdateFrame[] = [];
    const b = await UpdateBus.open({
      redisUrl: REDIS_URL,
      prefix,
      nodeId: 'node-b',
      log: silentLog,
      onUpdate: (frame) => received.push(frame),
      onResubscribed: () => {},
      onRefused: (error) => refused.push(error.code),
    });
    buses.push(b);
    const a = await node('node-a');
    await admin.publish(updatesChannel(prefix), Buffer.from([9, 9, 9]));
    await admin.publish(updatesChannel(prefix), Buffer.from([1, 5]));
    await a.bus.publish(alice, 1, Uint8Array.of(1));
    await eventually('the good frame after the bad ones', BOUND_MS, () => received.length === 1);
    assert.deepEqual(refused, ['unsupported_version', 'truncated']);
  });

  test('[CLUSTER-7] CLIENT KILL of the subscriber: it resubscribes, says so once, and later messages flow', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const name = connectionName(prefix, 'sub', 'node-b');
    const id = await clientIdByName(admin, name);
    assert.ok(id, `no client named ${name}`);
    assert.equal(b.resubscribed, 0);
    await admin.client('KILL', 'ID', id);
    await eventually('b resubscribed', BOUND_MS, () => b.resubscribed === 1);
    const newId = await clientIdByName(admin, name);
    assert.ok(newId && newId !== id, 'a new connection');
    await a.bus.publish(alice, 7, Uint8Array.of(7));
    await eventually('b got 7', BOUND_MS, () => b.received.length === 1);
    assert.deepEqual(seqs(b.received), [7]);
    assert.equal(b.resubscribed, 1);
    assert.equal(a.resubscribed, 0, "a's subscription never dropped");
  });

  test('[CLUSTER-7] CLIENT KILL of the publisher: later publishes still arrive, no resubscription', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const id = await clientIdByName(admin, connectionName(prefix, 'pub', 'node-a'));
    assert.ok(id);
    await admin.client('KILL', 'ID', id);
    // Published at once, before a's client noticed the kill: the publish goes out on the dead
    // socket. It must still settle (ioredis forgets such commands unless told to resend them).
    const first = a.bus.publish(alice, 1, Uint8Array.of(1));
    const settled = await Promise.race([first.then(() => 'settled'), sleep(BOUND_MS).then(() => 'hung')]);
    assert.equal(settled, 'settled');
    await eventually('a publishes again', BOUND_MS, async () => {
      await a.bus.publish(alice, 2, Uint8Array.of(2));
      return b.received.length > 0;
    });
    assert.equal(b.resubscribed, 0);
    assert.equal(a.resubscribed, 0);
  });

  test('[CLUSTER-8] a Redis killed -9 and started again: both nodes resubscribe, say so, and messages flow', async ({
    skip,
  }) => {
    skip(!HAS_REDIS_SERVER, NO_REDIS_SERVER);
    const redis = await ThrowawayRedis.start();
    try {
      const a = await node('node-a', redis.url);
      const b = await node('node-b', redis.url);
      await a.bus.publish(alice, 1, Uint8Array.of(1));
      await eventually('b got 1', BOUND_MS, () => b.received.length === 1);
      await redis.kill9();
      await eventually('b saw the drop', BOUND_MS, () => !b.bus.subscribed);
      await redis.restart();
      await eventually('both resubscribed', BOUND_MS, () => a.resubscribed === 1 && b.resubscribed === 1);
      await eventually('a publishes through the restarted Redis', BOUND_MS, async () => {
        await a.bus.publish(alice, 2, Uint8Array.of(2));
        return b.received.some((frame) => frame.seq === 2);
      });
      await b.bus.publish(alice, 3, Uint8Array.of(3));
      await eventually('a got 3', BOUND_MS, () => a.received.some((frame) => frame.seq === 3));
    } finally {
      await Promise.all(buses.splice(0).map((bus) => bus.close()));
      await redis.stop();
    }
  });

  test('[CLUSTER-7] a publish in flight when its connection is killed still settles', async ({ skip }) => {
    skip(!HAS_REDIS_SERVER, NO_REDIS_SERVER);
    // On a throwaway Redis: CLIENT PAUSE holds the PUBLISH on the server (in flight) while its
    // connection is killed, which the machine's shared Redis must not be put through.
    const redis = await ThrowawayRedis.start();
    const control = new Redis(redis.url);
    control.on('error', () => {});
    try {
      const a = await node('node-a', redis.url);
      const b = await node('node-b', redis.url);
      await control.client('PAUSE', 2_000, 'WRITE');
      const inFlight = a.bus.publish(alice, 1, Uint8Array.of(1));
      const id = await clientIdByName(control, connectionName(prefix, 'pub', 'node-a'));
      assert.ok(id);
      await sleep(100);
      await control.client('KILL', 'ID', id);
      await control.client('UNPAUSE');
      const settled = await Promise.race([inFlight.then(() => 'settled'), sleep(BOUND_MS).then(() => 'hung')]);
      assert.equal(settled, 'settled');
      await eventually('b got 1', BOUND_MS, () => b.received.length > 0);
    } finally {
      await Promise.all(buses.splice(0).map((bus) => bus.close()));
      control.disconnect();
      await redis.stop();
    }
  });

  test('[CLUSTER-6] open fails within its timeout when Redis is not there', async () => {
    await assert.rejects(
      UpdateBus.open({
        redisUrl: 'redis://127.0.0.1:1',
        prefix,
        nodeId: 'node-x',
        log: silentLog,
        onUpdate: () => {},
        onResubscribed: () => {},
        openTimeoutMs: 300,
      }),
      /no subscription/,
    );
  });
});
