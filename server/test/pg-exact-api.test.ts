/**
 * Exact ingest and counts through the server's own rooms, group commit and API on two nodes
 * (docs/CLUSTER.md "Exact ingest and counts"; SPEC STORE-26..STORE-28, API-2): two ExactNodes
 * (each its own PgStore pool, HTTP on port 0) on one fresh database.
 */
import assert from 'node:assert/strict';
import {
  type AccountId,
  CountsTracker,
  type DeviceId,
  deviceRoot,
  EMPTY_COUNTS,
  KeyValueArray,
  parseAccountId,
  parseDeviceId,
  parseThreadId,
  planRead,
  type ThreadId,
} from '@badgesync/shared';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import type { AccountRoom, RoomMember } from '../src/rooms/account-room.js';
import { writeExactly } from '../src/rooms/exact-writes.js';
import { API_KEY, ExactNode } from './exact-node-rig.js';
import { useMigratedDatabase } from './pg-database.js';
import { countsOfStoredLog } from './pg-replica-node.js';

const INBOX = parseThreadId('inbox');

const database = useMigratedDatabase();

async function withTwoNodes(work: (one: ExactNode, two: ExactNode) => Promise<void>): Promise<void> {
  const [one, two] = await Promise.all([ExactNode.open(database().url), ExactNode.open(database().url)]);
  try {
    await work(one, two);
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
}

async function call(node: ExactNode, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${node.port}${path}`, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const answer = (await res.json()) as unknown;
  assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(answer)}`);
  return answer;
}

interface ItemsAnswer {
  readonly thread: string;
  readonly head: number;
  readonly badge: number;
}

function postItems(node: ExactNode, account: AccountId, body: object): Promise<ItemsAnswer> {
  return call(node, 'POST', `/v1/accounts/${account}/items`, body) as Promise<ItemsAnswer>;
}

function getBadge(node: ExactNode, account: AccountId): Promise<{ badge: number; threads: Record<string, number> }> {
  return call(node, 'GET', `/v1/accounts/${account}/badge`) as Promise<{
    badge: number;
    threads: Record<string, number>;
  }>;
}

describe('exact ingest through the API on two nodes', () => {
  test('[CLUSTER-40] [STORE-26] [API-2] concurrent POSTs of items for one thread to two nodes: each head answered once, the badge is the number of items', async () => {
    await withTwoNodes(async (one, two) => {
      const account = parseAccountId('concurrent-posts');
      const PER_NODE = 25;
      const posts: Promise<ItemsAnswer>[] = [];
      for (let i = 0; i < PER_NODE; i++) {
        posts.push(postItems(one, account, { thread: INBOX }), postItems(two, account, { thread: INBOX }));
      }
      const heads = (await Promise.all(posts)).map((a) => a.head).sort((x, y) => x - y);
      const total = 2 * PER_NODE;
      assert.deepEqual(
        heads,
        Array.from({ length: total }, (_, i) => i + 1),
      );
      await Promise.all([one.settle(), two.settle()]);
      for (const node of [one, two]) {
        const badge = await getBadge(node, account);
        assert.equal(badge.badge, total, 'GET badge on either node is every item');
        assert.equal(badge.threads[INBOX], total);
      }
      assert.equal((await countsOfStoredLog(one.store, account)).badge, total);
    });
  });

  test('[CLUSTER-40] [STORE-28] [API-2] one idempotency key posted to two nodes at once adds once; both answer the first answer', async () => {
    await withTwoNodes(async (one, two) => {
      const account = parseAccountId('concurrent-keys');
      const KEYS = 12;
      for (let i = 0; i < KEYS; i++) {
        const body = { thread: INBOX, count: 3, idempotencyKey: `msg-${i}` };
        const [a, b] = await Promise.all([postItems(one, account, body), postItems(two, account, body)]);
        assert.deepEqual(a, b, `msg-${i}: the same answer from both nodes`);
        assert.equal(a.head, 3 * (i + 1), `msg-${i}: added once`);
      }
      await Promise.all([one.settle(), two.settle()]);
      assert.equal((await getBadge(two, account)).badge, 3 * KEYS);
    });
  });
});

describe('exact counts while device updates wait for their batch', () => {
  test('[CLUSTER-41] an ingest made while a device update of the room waits for disk leaves the counts to that batch; they end exact', async () => {
    await withTwoNodes(async (one, two) => {
      const account = parseAccountId('pending-device');
      await postItems(two, account, { thread: INBOX, count: 4 });
      const room = await one.rooms.acquire(account);
      await one.catchUp(account);
      const device = new DeviceOnNode(parseDeviceId('phone'));
      const seen: Array<unknown> = [];
      const exclusiveWrite = room.exclusiveWrite.bind(room);
      room.exclusiveWrite = (write) => {
        const made = exclusiveWrite(write);
        seen.push(made.counts);
        return made;
      };
      try {
        // The device's read is in the replica, not yet in the log, when the ingest runs.
        device.read(room, INBOX, 1);
        await writeExactly(one, room, null, () => ({
          write: (arrays) => {
            arrays.heads.set(INBOX, room.tracker.head(INBOX) + 3);
          },
          answer: () => null,
        }));
        assert.deepEqual(seen, [null], 'the exclusive transaction wrote no counts');
        await Promise.all([one.settle(), two.settle()]);
        const whole = await countsOfStoredLog(one.store, account);
        assert.equal(whole.threads[INBOX], 3, 'read 4 of 7');
        assert.deepEqual(await two.store.getCounts(account), whole);
        assert.deepEqual(device.closed, []);
      } finally {
        device.close();
      }
    });
  });
});

/** A device connected to one node: its own replica, synced from that node's room before it writes. */
class DeviceOnNode {
  readonly doc = new Y.Doc();
  readonly tracker = new CountsTracker(this.doc);
  readonly closed: string[] = [];
  readonly member: RoomMember;

  constructor(readonly device: DeviceId) {
    this.member = {
      device,
      send: () => {},
      close: (code, reason) => {
        this.closed.push(`${code} ${reason}`);
      },
    };
  }

  /** Reads `thread` up to `fraction` of the head it sees, sent to the room as the device's update. */
  read(room: AccountRoom, thread: ThreadId, fraction: number): void {
    Y.applyUpdate(this.doc, Y.encodeStateAsUpdate(room.doc, Y.encodeStateVector(this.doc)));
    const value = planRead(this.tracker, thread, this.device, Math.floor(this.tracker.head(thread) * fraction));
    if (value === null) return;
    const made: Uint8Array[] = [];
    const listen = (update: Uint8Array) => made.push(update);
    this.doc.on('update', listen);
    new KeyValueArray(this.doc, deviceRoot(this.device)).set(thread, value);
    this.doc.off('update', listen);
    const result = room.receiveUpdate(this.member, Y.mergeUpdates(made));
    assert.deepEqual(result, { kind: 'ok' }, `${this.device}'s read is accepted`);
  }

  close(): void {
    this.tracker.destroy();
    this.doc.destroy();
  }
}

describe('exact counts through the rooms under random interleavings', () => {
  const THREADS = ['inbox', 'news'].map(parseThreadId);
  type Op =
    | { readonly kind: 'ingest'; readonly thread: ThreadId; readonly count: number }
    | { readonly kind: 'apiRead'; readonly thread: ThreadId; readonly seq: number }
    | { readonly kind: 'device'; readonly thread: ThreadId; readonly fraction: number }
    | { readonly kind: 'deviceThenIngest'; readonly thread: ThreadId; readonly fraction: number }
    | { readonly kind: 'catchUp' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('ingest' as const),
      thread: fc.constantFrom(...THREADS),
      count: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({
      kind: fc.constant('apiRead' as const),
      thread: fc.constantFrom(...THREADS),
      seq: fc.integer({ min: 0, max: 12 }),
    }),
    fc.record({
      kind: fc.constant('device' as const),
      thread: fc.constantFrom(...THREADS),
      fraction: fc.constantFrom(0.5, 1),
    }),
    fc.record({
      kind: fc.constant('deviceThenIngest' as const),
      thread: fc.constantFrom(...THREADS),
      fraction: fc.constantFrom(0.5, 1),
    }),
    fc.record({ kind: fc.constant('catchUp' as const) }),
  );
  const step = fc.oneof(fc.record({ one: op }), fc.record({ two: op }), fc.record({ one: op, two: op }));
  const history = fc.array(step, { minLength: 4, maxLength: 25 });

  test('[CLUSTER-41] [CLUSTER-40] [STORE-27] device reads (group commit), API reads and ingests on two nodes: once quiet, the stored counts and GET badge are those of the whole stored log', async () => {
    let run = 0;
    const totals = { stale: 0, repairs: 0, deviceWrites: 0 };
    await withTwoNodes(async (one, two) => {
      await fc.assert(
        fc.asyncProperty(history, async (steps) => {
          const account = parseAccountId(`rooms-${run++}`);
          // One device per node: a device talks to one node, as a phone holds one connection.
          const devices = new Map([
            [one, new DeviceOnNode(parseDeviceId('phone'))],
            [two, new DeviceOnNode(parseDeviceId('mac'))],
          ]);
          const play = async (node: ExactNode, o: Op) => {
            if (o.kind === 'ingest') await postItems(node, account, { thread: o.thread, count: o.count });
            else if (o.kind === 'apiRead')
              await call(node, 'POST', `/v1/accounts/${account}/read`, { thread: o.thread, seq: o.seq });
            else if (o.kind === 'catchUp') await node.catchUp(account);
            else if (o.kind === 'deviceThenIngest') {
              // An ingest while the device's update waits for its batch: the exclusive
              // transaction cannot write counts that include it (CLUSTER-41).
              const room = await node.rooms.acquire(account);
              (devices.get(node) as DeviceOnNode).read(room, o.thread, o.fraction);
              await writeExactly(node, room, null, () => {
                const head = room.tracker.head(o.thread) + 1;
                return {
                  write: (arrays) => {
                    arrays.heads.set(o.thread, head);
                  },
                  answer: () => head,
                };
              });
              await node.commit.flushed();
            } else {
              const room = await node.rooms.acquire(account);
              (devices.get(node) as DeviceOnNode).read(room, o.thread, o.fraction);
              totals.deviceWrites++;
              await node.commit.flushed();
            }
          };
          try {
            for (const [i, s] of steps.entries()) {
              const ops: Promise<void>[] = [];
              if ('one' in s) ops.push(play(one, s.one));
              if ('two' in s) ops.push(play(two, s.two));
              await Promise.all(ops);
              await Promise.all([one.settle(), two.settle()]);
              const whole = await countsOfStoredLog(one.store, account);
              assert.deepEqual((await one.store.getCounts(account)) ?? EMPTY_COUNTS, whole, `after step ${i}`);
              for (const node of [one, two]) assert.equal((await getBadge(node, account)).badge, whole.badge);
            }
            for (const device of devices.values()) assert.deepEqual(device.closed, [], 'no device was closed');
          } finally {
            for (const device of devices.values()) device.close();
          }
        }),
        propertyParams('exact counts through the rooms of two nodes', 12),
      );
      for (const node of [one, two]) {
        totals.stale += node.stats.stale;
        totals.repairs += node.stats.repairs;
      }
    });
    console.log('[exact counts through the rooms of two nodes] totals', totals);
  });
});
