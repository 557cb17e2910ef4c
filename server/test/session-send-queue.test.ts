import assert from 'node:assert/strict';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { pino } from 'pino';
import { describe, test } from 'vitest';
import type { DeviceClaims } from '../src/auth/device-token.js';
import { Metrics } from '../src/metrics.js';
import type { AccountRoom } from '../src/rooms/account-room.js';
import { DEFAULT_SESSION_LIMITS, Session } from '../src/sync/session.js';
import type { WebSocketLike } from '../src/sync/websocket-like.js';

const MiB = 1024 * 1024;

/** A socket whose queue only grows (the peer never reads). */
class StalledSocket implements WebSocketLike {
  bufferedAmount = 0;
  sent = 0;
  closedWith: number | null = null;
  send(data: Uint8Array): void {
    this.sent++;
    this.bufferedAmount += data.byteLength;
  }
  close(code: number): void {
    this.closedWith = code;
  }
  terminate(): void {}
}

function session(socket: WebSocketLike): Session {
  const room = { join() {}, leave() {} } as unknown as AccountRoom;
  const claims: DeviceClaims = {
    account: 'a' as AccountId,
    device: 'd' as DeviceId,
    expiresAt: Date.now() + 3_600_000,
    issuedAt: null,
  };
  return new Session(socket, claims, room, DEFAULT_SESSION_LIMITS, new Metrics(), pino({ level: 'silent' }));
}

describe('the send queue counts what it is about to send', () => {
  test('[SYNC-11] a message that would take the queue past 4 MiB closes the reader with 1013 and is not queued', () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(3 * MiB));
    s.send(new Uint8Array(MiB - 10));
    assert.equal(socket.closedWith, null, 'up to 4 MiB is queued');
    s.send(new Uint8Array(64 * 1024));
    assert.equal(socket.closedWith, 1013);
    assert.equal(socket.sent, 2, 'the message that did not fit was not queued');
    assert.ok(socket.bufferedAmount <= DEFAULT_SESSION_LIMITS.maxBufferedBytes);
  });

  test('[SYNC-11] one message larger than the limit is still sent into an empty queue, and nothing after it', () => {
    const socket = new StalledSocket();
    const s = session(socket);
    s.send(new Uint8Array(5 * MiB));
    assert.equal(socket.closedWith, null, 'a large step 2 is never refused by itself');
    s.send(new Uint8Array(10));
    assert.equal(socket.closedWith, 1013);
    assert.equal(socket.sent, 1);
  });
});
