import type { Duplex } from 'node:stream';
import { closeReason } from '@badgesync/shared';
import type { WebSocket } from 'ws';
import type { WebSocketLike } from './websocket-like.js';

/**
 * A `ws` connection as a Session sees it. `socket` is the stream `ws` writes the connection's
 * frames to (the one handed to handleUpgrade): ws has no cork of its own, and corking that
 * stream holds every frame ws writes until it is uncorked (SPEC SYNC-18).
 */
export function wsSocketLike(ws: WebSocket, socket: Duplex): WebSocketLike {
  return {
    send: (data) => ws.send(data, { binary: true }),
    close: (code, reason) => ws.close(code, closeReason(reason)),
    terminate: () => ws.terminate(),
    // A Node stream counts its corks, and neither call throws once it is destroyed: what is
    // held then is dropped, as an unflushed write of a dead connection always was.
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
  };
}
