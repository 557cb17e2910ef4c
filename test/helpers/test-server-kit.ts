/**
 * What the test push services (APNs, FCM, Web Push stand-ins) share: waiting for a condition
 * on what they have seen, and the lifetime of their command-line runners.
 */

/** Waits give up after 5 s by default: far above a local round trip, well under a test timeout. */
export const DEFAULT_WAIT_MS = 5_000;

/**
 * Resolves once `condition()` holds; `waiters` is the server's set of checks, which it calls
 * whenever something it records changes. Rejects after `timeoutMs`, naming `server` and `what()`.
 */
export function waitForCondition(
  waiters: Set<() => void>,
  server: string,
  condition: () => boolean,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  if (condition()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) {
        done();
        resolve();
      }
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`${server}: timed out after ${timeoutMs} ms waiting for ${what()}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      waiters.delete(check);
    };
    waiters.add(check);
  });
}

/**
 * For a runner script: closes the server and exits on SIGINT, SIGTERM, or (with `watchStdin`)
 * when stdin ends. Call before printing the ready line: a parent that stops us as soon as it
 * reads it must not hit SIGTERM's default action (exit without cleanup) before the handlers exist.
 */
export function closeOnStop(server: { close(): Promise<void> }, watchStdin: boolean): void {
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  if (watchStdin) {
    process.stdin.on('end', () => void stop());
    process.stdin.resume();
  }
}
