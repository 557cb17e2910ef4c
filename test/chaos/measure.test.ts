/**
 * The chaos run's measuring instruments, checked on hand-made timelines: the disagreement
 * intervals (README "Definitions"), the online-push judge, the plan, and the faulty link
 * (against a local echo server). Well under a second.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'vitest';
import { apnsAllowanceMs, promisedBound, quickConfig, restartAllowanceMs } from './config.js';
import { DisagreementTracker, type Observation } from './disagreement.js';
import { ChaosLink, loopbackAddress } from './link.js';
import { PresenceHistory } from './presence.js';
import { buildPlan } from './schedule.js';

function feed(steps: Array<Partial<Observation> & { at: number }>, cause = 'x'): DisagreementTracker {
  const tracker = new DisagreementTracker('d');
  let last: Observation = { at: 0, measured: true, shown: 0, truth: 0, excused: false, state: 'fg' };
  for (const step of steps) {
    last = { ...last, ...step };
    tracker.observe(last, cause);
  }
  return tracker;
}

describe('chaos: disagreement intervals', () => {
  test('a device that follows the truth has no interval', () => {
    const t = feed([{ at: 0 }, { at: 10, truth: 3, shown: 3 }, { at: 20, truth: 1, shown: 1 }]);
    assert.deepEqual(t.intervals, []);
    assert.deepEqual(t.stretches, []);
  });

  test('one change, caught up later: one interval, one stretch, same length', () => {
    const t = feed([{ at: 0 }, { at: 100, truth: 2 }, { at: 350, shown: 2 }]);
    assert.equal(t.intervals.length, 1);
    assert.equal(t.intervals[0]?.lengthMs, 250);
    assert.equal(t.intervals[0]?.endedBy, 'caught-up');
    assert.equal(t.stretches[0]?.lengthMs, 250);
  });

  test('churn: each change gets its own interval; a value the truth held since counts as caught up', () => {
    // Truth 0 → 1 (100) → 2 (150, while the push of 1 is in flight) → the device shows 1 (300),
    // then 2 (500). The change at 100 was caught up at 300; the one at 150 at 500.
    const t = feed([
      { at: 0 },
      { at: 100, truth: 1 },
      { at: 150, truth: 2 },
      { at: 300, shown: 1 },
      { at: 500, shown: 2 },
    ]);
    assert.deepEqual(
      t.intervals.map((i) => [i.start, i.end]),
      [
        [100, 300],
        [150, 500],
      ],
    );
    assert.deepEqual(
      t.stretches.map((s) => [s.start, s.end]),
      [[100, 500]],
    );
  });

  test('a stale value (held before the change) does not end the interval', () => {
    const t = feed([
      { at: 0, truth: 5, shown: 5 },
      { at: 100, truth: 6 },
      { at: 200, shown: 4 },
      { at: 900, shown: 6 },
    ]);
    assert.deepEqual(
      t.intervals.map((i) => [i.start, i.end]),
      [[100, 900]],
    );
  });

  test('excused time is subtracted; a device that stops being judged closes its intervals', () => {
    const t = feed([
      { at: 0 },
      { at: 100, truth: 1 },
      { at: 200, excused: true },
      { at: 700, excused: false },
      { at: 900, shown: 1 },
      { at: 1000, truth: 2 },
      { at: 1100, measured: false },
    ]);
    assert.equal(t.intervals[0]?.lengthMs, 800);
    assert.equal(t.intervals[0]?.excusedMs, 500);
    assert.equal(t.intervals[0]?.attributableMs, 300);
    assert.equal(t.intervals[1]?.endedBy, 'unmeasured');
    assert.equal(t.intervals[1]?.lengthMs, 100);
  });

  test('finish reports what is still wrong as open', () => {
    const t = feed([{ at: 0 }, { at: 100, truth: 3 }]);
    t.finish(1000);
    assert.equal(t.intervals[0]?.endedBy, 'open');
    assert.equal(t.intervals[0]?.lengthMs, 900);
    assert.equal(t.stretches[0]?.endedBy, 'open');
  });
});

describe('chaos: pushes to online devices', () => {
  const grace = 300;
  test('live on every account for the grace period: online; shorter: a race; one account offline: offline', () => {
    const p = new PresenceHistory();
    p.setMember('a', true, 0);
    p.setMember('b', true, 0);
    p.setLive('a', true, 0);
    p.setLive('b', true, 900);
    assert.equal(p.judge(1_000, grace, 600).verdict, 'race');
    assert.equal(p.judge(1_300, grace, 600).verdict, 'online');
    p.setLive('b', false, 1_400);
    assert.equal(p.judge(1_500, grace, 600).verdict, 'offline');
  });

  test('an account signed out of within the lookback still counts as a possible cause', () => {
    const p = new PresenceHistory();
    p.setMember('a', true, 0);
    p.setMember('b', true, 0);
    p.setLive('a', true, 0);
    p.setLive('b', true, 0);
    p.setMember('b', false, 1_000);
    p.setLive('b', false, 1_000);
    assert.equal(p.judge(1_500, grace, 600).verdict, 'after-sign-out');
    assert.equal(p.judge(1_700, grace, 600).verdict, 'online');
    p.setLive('a', false, 1_800);
    assert.equal(p.judge(1_900, grace, 600).verdict, 'offline');
  });
});

describe('chaos: plan and bound', () => {
  test('the bound is 2.25 heartbeats + grace + window + two APNs round trips', () => {
    assert.equal(promisedBound().totalMs, 1125 + 300 + 200 + 200);
    assert.equal(apnsAllowanceMs({ mode: 'unavailable', startMs: 0, endMs: 2_000, delayMs: 0 }), 7_000);
    assert.equal(apnsAllowanceMs({ mode: 'slow', startMs: 0, endMs: 2_000, delayMs: 150 }), 300);
    assert.equal(restartAllowanceMs(), Math.max(300 + 200 + 200, 1_000));
  });

  test('a seed always makes the same plan, with every fault kind the issue asks for', () => {
    const a = buildPlan(quickConfig(7));
    const b = buildPlan(quickConfig(7));
    assert.deepEqual(a, b);
    const kinds = new Set(a.events.map((e) => (e.kind === 'link' ? `link:${e.fault}` : e.kind)));
    for (const kind of [
      'foreground',
      'background',
      'link:cut',
      'link:blackhole',
      'link:stall',
      'read',
      'mute',
      'sign-in',
      'sign-out',
      'items',
      'burst',
      'server-read',
      'apns',
      'kill',
    ]) {
      assert.ok(kinds.has(kind), `plan has ${kind}`);
    }
    assert.ok(a.devices.some((d) => d.kind === 'web') && a.devices.some((d) => d.kind === 'ios'));
    assert.notDeepEqual(buildPlan(quickConfig(8)).events, a.events);
  });
});

describe('chaos: the link', () => {
  /** An echo server and one client through a link; everything closed in `after`. */
  async function rig() {
    const sockets = new Set<net.Socket>();
    const from: string[] = [];
    const echo = net.createServer((socket) => {
      sockets.add(socket);
      from.push(socket.remoteAddress ?? '');
      socket.on('data', (chunk) => socket.write(chunk));
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', () => resolve()));
    const link = await ChaosLink.open((echo.address() as net.AddressInfo).port, loopbackAddress(3));
    const connect = async () => {
      const client = net.connect(link.port, '127.0.0.1');
      const received: string[] = [];
      let closed = false;
      client.on('data', (chunk) => received.push(chunk.toString()));
      client.on('close', () => {
        closed = true;
      });
      client.on('error', () => {});
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      return { client, received, closed: () => closed };
    };
    const close = async () => {
      await link.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    };
    return { link, connect, close, from, peers: () => [...sockets].filter((s) => !s.destroyed).length };
  }

  const settle = () => new Promise((resolve) => setTimeout(resolve, 60));

  test("open: bytes pass, from the device's own loopback address", async () => {
    const r = await rig();
    try {
      const c = await r.connect();
      c.client.write('hi');
      await settle();
      assert.deepEqual(c.received, ['hi']);
      assert.deepEqual(r.from, [loopbackAddress(3)]);
      c.client.destroy();
    } finally {
      await r.close();
    }
  });

  test('stall: nothing moves, nothing is lost; restore delivers', async () => {
    const r = await rig();
    try {
      const c = await r.connect();
      r.link.stall();
      c.client.write('held');
      await settle();
      assert.deepEqual(c.received, []);
      r.link.restore();
      await settle();
      assert.equal(c.received.join(''), 'held');
      assert.equal(c.closed(), false);
      c.client.destroy();
    } finally {
      await r.close();
    }
  });

  test('blackhole: bytes dropped, no close either way; restore resets the connection', async () => {
    const r = await rig();
    try {
      const c = await r.connect();
      await settle();
      r.link.blackhole();
      c.client.write('lost');
      await settle();
      assert.deepEqual(c.received, []);
      assert.equal(c.closed(), false);
      c.client.destroy();
      await settle();
      assert.equal(r.peers(), 1, 'the server side learns nothing of the device leaving');
      r.link.restore();
      await settle();
      assert.equal(r.peers(), 0, 'reset once the path is back');
    } finally {
      await r.close();
    }
  });

  test('cut: connections reset at once, new ones refused until restore', async () => {
    const r = await rig();
    try {
      const c = await r.connect();
      r.link.cut();
      await settle();
      assert.equal(c.closed(), true);
      const refused = await r.connect();
      await settle();
      assert.equal(refused.closed(), true);
      r.link.restore();
      const again = await r.connect();
      again.client.write('back');
      await settle();
      assert.deepEqual(again.received, ['back']);
      again.client.destroy();
    } finally {
      await r.close();
    }
  });
});
