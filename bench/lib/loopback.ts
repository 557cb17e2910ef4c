/**
 * Client sockets from many loopback source addresses. badgesync limits upgrade attempts per
 * client address before authentication (20/s, burst 100: sync-endpoint.ts PRE_AUTH_*), as a
 * server facing the internet should; thousands of benchmark devices on one address would
 * spend minutes in that limit. On Linux all of 127.0.0.0/8 is loopback, so each group of
 * CONNECTIONS_PER_ADDRESS devices gets an address of its own, like phones behind a NAT.
 */
import { WebSocket } from 'ws';

/** Below the pre-auth burst (100), leaving room for reconnects. */
export const CONNECTIONS_PER_ADDRESS = 50;

/** The source address of the `index`-th connection: 127.1.x.y. */
export function sourceAddress(index: number): string {
  const group = Math.floor(index / CONNECTIONS_PER_ADDRESS);
  return `127.1.${Math.floor(group / 250)}.${(group % 250) + 1}`;
}

const classes = new Map<string, typeof WebSocket>();

/** A `ws` WebSocket class whose sockets leave from `localAddress` (a WebSocketPolyfill). */
export function webSocketFrom(localAddress: string): typeof WebSocket {
  const known = classes.get(localAddress);
  if (known !== undefined) return known;
  class Bound extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, { localAddress });
    }
  }
  const bound = Bound as unknown as typeof WebSocket;
  classes.set(localAddress, bound);
  return bound;
}
