/**
 * SPEC CLUSTER-20: in a cluster, a device update the room refuses is judged again once the
 * room has caught up with the shared log (its refusal may be the replica's staleness), and the
 * session's later messages wait behind it, in order. Without a cluster (no catch-up) the
 * refusal closes the session at once, as before. The room is a stand-in that refuses by rule.
 */
import assert from 'node:assert/strict';
import { type AccountId, CloseCode, type DeviceId, encodeUpdate } from '@badgesync/shared';
import { pino } from 'pino';
import { describe, test } from 'vitest';
import type { DeviceClaims } from '../src/auth/device-token.js';
import { Metrics } from '../src/metrics.js';
import type { AccountRoom, ReceiveResult } from '../src/rooms/account-room.js';
import { DEFAULT_SESSION_LIMITS, Session } from '../src/sync/session.js';
import type { WebSocketLike } from '../src/sync/websocket-like.js';

class Socket implements WebSocketLike {
  readonly bufferedAmount = 0;
  closedWith: number | null = null;
  send(): void {}
  cork(): void {}
  uncork(): void {}
  close(code: number): void {
    this.closedWith = code;
  }
  terminate(): void {}
}

/** A room that accepts update n only once it has caught up to n (or n is at most where it is). */
function staleRoom(options: { cluster: boolean; caughtUpTo: number }) {
  const accepted: number[] = [];
  let at = 0;
  let release: (() => void) | null = null;
  const room = {
    join() {},
    leave() {},
    receiveUpdate(_member: unknown, update: Uint8Array): ReceiveResult {
      const n = update[0] as number;
      if (n > at) return { kind: 'refused', code: CloseCode.forbiddenWrite, reason: `seq_beyond_head: ${n} > ${at}` };
      accepted.push(n);
      return { kind: 'ok' };
    },
    catchUp(): Promise<void> | null {
      if (!options.cluster) return null;
      return new Promise<void>((resolve) => {
        release = () => {
          at = options.caughtUpTo;
          resolve();
        };
      });
    },
  };
  return {
    room: room as unknown as AccountRoom,
    accepted,
    /** Lets the pending catch-up finish. */
    release: () => (release as () => void)(),
  };
}

function session(socket: WebSocketLike, room: AccountRoom): Session {
  const claims: DeviceClaims = {
    account: 'a' as AccountId,
    device: 'd' as DeviceId,
    expiresAt: Date.now() + 3_600_000,
    issuedAt: null,
  };
  return new Session(socket, claims, room, DEFAULT_SESSION_LIMITS, new Metrics(), pino({ level: 'silent' }));
}

const update = (n: number) => encodeUpdate(Uint8Array.of(n));

describe('a refused update in a cluster', () => {
  test('[CLUSTER-20] is judged again after the room caught up; the messages after it wait and keep their order', async () => {
    const socket = new Socket();
    const { room, accepted, release } = staleRoom({ cluster: true, caughtUpTo: 5 });
    const s = session(socket, room);
    s.receive(update(3), true);
    s.receive(update(1), true);
    s.receive(update(2), true);
    assert.deepEqual(accepted, [], 'nothing is handled before the refused update');
    assert.equal(socket.closedWith, null, 'not closed while the room catches up');
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(accepted, [3, 1, 2]);
    assert.equal(socket.closedWith, null);
  });

  test('[CLUSTER-20] still refused after the catch-up: the session closes with the refusal, and what waited is dropped', async () => {
    const socket = new Socket();
    const { room, accepted, release } = staleRoom({ cluster: true, caughtUpTo: 5 });
    const s = session(socket, room);
    s.receive(update(9), true);
    s.receive(update(1), true);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(socket.closedWith, CloseCode.forbiddenWrite);
    assert.deepEqual(accepted, []);
  });

  test('[CLUSTER-20] without a cluster the refusal closes the session at once', () => {
    const socket = new Socket();
    const { room } = staleRoom({ cluster: false, caughtUpTo: 5 });
    session(socket, room).receive(update(3), true);
    assert.equal(socket.closedWith, CloseCode.forbiddenWrite);
  });
});
