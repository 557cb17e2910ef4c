import type { PushHooks } from './ports.js';

/**
 * No push at all, for a server that only syncs: hears every event and does nothing.
 * Named for what it is so nobody mistakes it for delivery.
 */
export function pushDisabled(): PushHooks {
  return {
    countsCommitted: () => {},
    deviceOnline: () => {},
    deviceOffline: () => {},
    deviceRegistered: () => {},
    deviceSignedOut: () => {},
    start: () => {},
    close: async () => {},
  };
}
