import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, type HttpErrorCode } from '@badgesync/shared';

/**
 * Answers on a bare socket — a refused upgrade, or a request Node's parser gave up on —
 * with a complete HTTP/1.1 error response in the contract's shape (SPEC API-1), then closes
 * it. Status texts come from `node:http`. `retryAfterSeconds` adds `Retry-After` (SPEC EDGE-4).
 */
export function writeRawError(
  socket: Duplex,
  status: number,
  code: HttpErrorCode,
  message?: string,
  retryAfterSeconds?: number,
): void {
  if (socket.destroyed) return;
  // Node takes its own error listener off an upgraded socket: without one, a client that
  // resets the connection while this answer is written would be an uncaught exception.
  if (socket.listenerCount('error') === 0) socket.on('error', () => socket.destroy());
  const body = JSON.stringify(errorBody(code, message));
  const retry = retryAfterSeconds === undefined ? '' : `Retry-After: ${retryAfterSeconds}\r\n`;
  // Destroyed once written: a client that never closes its side holds nothing of ours.
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${retry}Connection: close\r\n\r\n${body}`,
  );
}
