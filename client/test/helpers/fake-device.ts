/**
 * One device of the SDK for client tests: BadgeSync on fakes only (FakeSocket, FakeClock,
 * FakeNetwork), so a test drives the socket, time and connectivity itself.
 */
import { BadgeSync } from '../../src/badge-sync.js';
import { MemoryStorage } from '../../src/storage/memory-storage.js';
import type { BadgeSyncStorage } from '../../src/storage/storage.js';
import { FakeClock } from './fake-clock.js';
import { FakeNetwork } from './fake-network.js';
import { FakeSocket } from './fake-socket.js';

/** A BadgeSync for device `deviceId` on `storage`, connecting to ws://server through FakeSocket. */
export function fakeDevice(storage: BadgeSyncStorage = new MemoryStorage(), deviceId = 'phone'): BadgeSync {
  return new BadgeSync({
    serverUrl: 'ws://server',
    deviceId,
    storage,
    WebSocket: FakeSocket,
    clock: new FakeClock(),
    network: new FakeNetwork(),
  });
}
