import assert from 'node:assert/strict';
import fc from 'fast-check';
import { describe, test } from 'vitest';
import {
  checkUpdate,
  type DeviceId,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  type MarkerView,
  packMarker,
  planAllRead,
  planRead,
  planUnread,
  SERVER_DEVICE,
  type ThreadId,
  threadEpoch,
  unpackMarker,
} from '../src/index.js';
import { Rng } from './helpers/rng.js';
import { propertyParams } from './helpers/seed.js';
import { ServerPeer } from './helpers/server-peer.js';
import { DeviceReplica } from './helpers/world.js';

const T = 't' as ThreadId;
const ME = 'me' as DeviceId;
const OTHER = 'other' as DeviceId;

/** A MarkerView over plain data: heads by thread, markers by thread and device. */
function view(heads: Record<string, number>, markers: Record<string, Record<string, number>> = {}): MarkerView {
  const byThread = (t: string) => new Map(Object.entries(markers[t] ?? {})) as Map<DeviceId, number>;
  return {
    head: (t) => heads[t] ?? 0,
    maxMarker: (t) => Math.max(0, ...byThread(t).values()),
    markers: byThread,
    muteStamp: () => 0,
    muteStamps: () => new Map(),
    isMuted: () => false,
    threadsWithHead: () => Object.keys(heads) as ThreadId[],
    liveEntries: () => [],
  };
}

describe('planRead', () => {
  test('[MARK-1] reads up to seq in the thread’s current epoch', () => {
    assert.equal(planRead(view({ t: 10 }), T, ME, 4), 4);
    assert.equal(planRead(view({ t: 10 }, { t: { [OTHER]: packMarker(2, 1) } }), T, ME, 4), packMarker(2, 4));
  });

  test('[MARK-1] clamps to the head', () => {
    assert.equal(planRead(view({ t: 10 }), T, ME, 99), 10);
    assert.equal(planRead(view({ t: 10 }, { t: { [OTHER]: packMarker(1, 0) } }), T, ME, 99), packMarker(1, 10));
  });

  test('[MARK-1] never lowers: null when the thread is read that far already, by anyone', () => {
    const v = view({ t: 10 }, { t: { [ME]: 6, [OTHER]: 8 } });
    assert.equal(planRead(v, T, ME, 5), null);
    assert.equal(planRead(v, T, ME, 8), null);
    assert.equal(planRead(v, T, ME, 9), 9);
    // a thread without a head counts as head 0: nothing to read
    assert.equal(planRead(view({}), T, ME, 3), null);
  });

  test('[MARK-1] a read in an older epoch than the thread’s is never planned', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(0, 9), [OTHER]: packMarker(1, 2) } });
    assert.equal(threadEpoch(v, T), 1);
    assert.equal(planRead(v, T, ME, 9), packMarker(1, 9));
  });

  test('[MARK-1] a seq that is not an integer ≥ 0 is a RangeError', () => {
    for (const seq of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => planRead(view({ t: 10 }), T, ME, seq), RangeError);
    }
  });
});

describe('planUnread', () => {
  test('[MARK-2] marks unread from an item: epoch E + 1, seq fromSeq − 1', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(0, 10), [OTHER]: packMarker(0, 7) } });
    assert.equal(planUnread(v, T, ME, 4), packMarker(1, 3));
    assert.equal(planUnread(v, T, ME, 1), packMarker(1, 0));
  });

  test('[MARK-2] the new epoch beats every marker of the older one', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(3, 10), [OTHER]: packMarker(3, 9) } });
    const value = planUnread(v, T, ME, 6) as number;
    assert.deepEqual(unpackMarker(value), { epoch: 4, seq: 5 });
    assert.ok(value > packMarker(3, 10));
  });

  test('[MARK-2] null when nothing would become unread: from beyond the head, or from an item that is unread already', () => {
    const v = view({ t: 10 }, { t: { [OTHER]: packMarker(0, 3) } });
    assert.equal(planUnread(v, T, ME, 11), null);
    assert.equal(planUnread(v, T, ME, 50), null);
    // items 4..10 are unread: marking 8..10 unread would read 4..7 instead
    assert.equal(planUnread(v, T, ME, 8), null);
    assert.equal(planUnread(v, T, ME, 5), null);
    assert.equal(planUnread(v, T, ME, 4), null);
    assert.equal(planUnread(v, T, ME, 3), packMarker(1, 2));
    assert.equal(planUnread(view({}), T, ME, 1), null);
  });

  test('[MARK-2] fromSeq that is not an integer ≥ 1 is a RangeError', () => {
    for (const fromSeq of [0, -1, 2.5, Number.NaN]) {
      assert.throws(() => planUnread(view({ t: 10 }, { t: { [ME]: 10 } }), T, ME, fromSeq), RangeError);
    }
  });

  test('[MARK-3] at most MAX_EPOCH_LEAD epochs above the other devices’ markers', () => {
    const atLimit = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD - 1, 10), [OTHER]: packMarker(0, 10) } });
    assert.equal(planUnread(atLimit, T, ME, 5), packMarker(MAX_EPOCH_LEAD, 4));
    const over = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD, 10), [OTHER]: packMarker(0, 10) } });
    assert.throws(() => planUnread(over, T, ME, 5), /sync first/);
    // another device (or the server's API) in a newer epoch lifts the limit
    const lifted = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH_LEAD, 10), [SERVER_DEVICE]: packMarker(3, 10) } });
    assert.equal(planUnread(lifted, T, ME, 5), packMarker(MAX_EPOCH_LEAD + 1, 4));
  });

  test('[MARK-3] never beyond MAX_EPOCH', () => {
    const v = view({ t: 10 }, { t: { [ME]: packMarker(MAX_EPOCH, 10), [OTHER]: packMarker(MAX_EPOCH, 10) } });
    assert.throws(() => planUnread(v, T, ME, 5), RangeError);
  });
});

describe('planAllRead', () => {
  test('[MARK-4] every thread with unread items: current epoch, seq = head; nothing for read threads', () => {
    const v = view(
      { a: 5, b: 3, c: 7, d: 0 },
      { a: { [OTHER]: packMarker(2, 1) }, b: { [ME]: 3 }, c: { [ME]: packMarker(0, 7), [OTHER]: packMarker(1, 2) } },
    );
    const writes = planAllRead(v, ME).sort((x, y) => (x.thread < y.thread ? -1 : 1));
    assert.deepEqual(writes, [
      { thread: 'a', value: packMarker(2, 5) },
      { thread: 'c', value: packMarker(1, 7) },
    ]);
    assert.deepEqual(planAllRead(view({}), ME), []);
  });
});

describe('planners against the write rules', () => {
  test('[MARK-5] a value a synced replica plans passes the write rules of the server', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 1, max: 40 }), (seed, steps) => {
        const rng = new Rng(seed);
        const server = new ServerPeer();
        const devices = [new DeviceReplica('d1' as DeviceId), new DeviceReplica('d2' as DeviceId)];
        const threads = ['t1', 't2'] as ThreadId[];
        for (let i = 0; i < steps; i++) {
          const thread = rng.pick(threads);
          if (rng.chance(0.25)) {
            server.ingest(thread, rng.range(1, 4));
            continue;
          }
          if (rng.chance(0.1)) {
            server.apiRead(thread, rng.int(server.tracker.head(thread) + 2));
            continue;
          }
          const device = rng.pick(devices);
          device.pull(server);
          const head = device.tracker.head(thread);
          try {
            if (rng.chance(0.4)) device.unread(thread, rng.range(1, head + 1));
            else if (rng.chance(0.2)) device.allRead();
            else device.read(thread, rng.int(head + 3));
          } catch (err) {
            assert.ok(err instanceof RangeError);
          }
          const update = device.take();
          if (update === null) continue;
          const verdict = checkUpdate(server.ctx, device.id, update);
          assert.equal(verdict.kind, 'accept', JSON.stringify(verdict));
          server.receive(device.id, update);
        }
      }),
      propertyParams('planners vs rules', 200),
    );
  });
});
