/**
 * Client sockets from many loopback source addresses. badgesync limits upgrade attempts per
 * client address before authentication (20/s, burst 100: sync-endpoint.ts PRE_AUTH_*), as a
 * server facing the internet should; thousands of benchmark devices on one address would
 * spend minutes in that limit. On Linux all of 127.0.0.0/8 is loopback, so each group of
 * CONNECTIONS_PER_ADDRESS devices gets an address of its own, like phones behind a NAT.
 * Where only 127.0.0.1 exists (macOS), `probeLoopback()` finds out and every client uses it.
 */
import { createServer } from 'node:net';
import { WebSocket } from 'ws';

/** Below the pre-auth burst (100), leaving room for reconnects. */
export const CONNECTIONS_PER_ADDRESS = 50;

let spread = true;

/**
 * Whether this machine routes 127.1.0.1 to loopback; when it does not, sourceAddress()
 * answers 127.0.0.1 from then on (and connection set-up is slower). Call once before
 * opening connections.
 */
export async function probeLoopback(): Promise<boolean> {
  spread = await new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '127.1.0.1', () => server.close(() => resolve(true)));
  });
  if (!spread) {
    process.stderr.write(
      'bench: 127.1.0.1 is not a loopback address here; every client connects from 127.0.0.1, ' +
        "so badgesync's pre-auth limit (20 upgrades/s per address) slows connection set-up\n",
    );
  }
  return spread;
}

/** The source address of the `index`-th connection: 127.1.x.y (or 127.0.0.1, see probeLoopback). */
export function sourceAddress(index: number): string {
  if (!spread) return '127.0.0.1';
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
