import type { PushHooks } from '../server.js';

/**
 * The push pipeline before it is built (issue 4): hears every event and does nothing.
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
