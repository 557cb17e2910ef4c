import type { AccountId, DeviceId } from '@badgesync/shared';
import { pino } from 'pino';
import type { DeviceClaims } from '../src/auth/device-token.js';
import { Metrics } from '../src/metrics.js';
import type { AccountRoom } from '../src/rooms/account-room.js';
import { DEFAULT_SESSION_LIMITS, Session } from '../src/sync/session.js';
import type { WebSocketLike } from '../src/sync/websocket-like.js';

/**
 * A Session of device `d` of account `a` on `socket`, in a room that does nothing when it is
 * joined or left, with the default limits: for tests of what a session does with its socket.
 */
export function lonelySession(socket: WebSocketLike): Session {
  const room = { join() {}, leave() {} } as unknown as AccountRoom;
  const claims: DeviceClaims = {
    account: 'a' as AccountId,
    device: 'd' as DeviceId,
    expiresAt: Date.now() + 3_600_000,
    issuedAt: null,
  };
  return new Session(socket, claims, room, DEFAULT_SESSION_LIMITS, new Metrics(), pino({ level: 'silent' }));
}
