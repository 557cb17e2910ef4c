import type { Logger } from 'pino';

/**
 * [EDGE-1] Wraps a callback the server hands to a timer, an event emitter or a settled
 * promise: a throw there would otherwise be an uncaught exception and stop the process for
 * every account. It is logged loudly, once, with where it happened, and the server keeps
 * serving; the bug stays visible in the error log.
 */
export function guarded<A extends unknown[]>(
  log: Logger,
  where: string,
  callback: (...args: A) => void,
): (...args: A) => void {
  return (...args: A) => {
    try {
      callback(...args);
    } catch (err) {
      log.error({ err, where }, 'unexpected throw caught at the boundary');
    }
  };
}
