import { setTimeout as sleep } from 'node:timers/promises';

/**
 * After a step's sends: waits until `received()` reaches `expected`, or nothing has arrived for
 * `quietMs` (what is still missing is lost), or `maxMs` have passed. Returns how long it waited.
 * Polled every 20 ms: finer than any drain the reports tell apart, coarse enough to cost nothing.
 */
export async function drain(received: () => number, expected: number, quietMs: number, maxMs: number): Promise<number> {
  const start = performance.now();
  let last = received();
  let lastProgress = start;
  while (received() < expected) {
    await sleep(20);
    const now = performance.now();
    const count = received();
    if (count !== last) {
      last = count;
      lastProgress = now;
    }
    if (now - lastProgress > quietMs || now - start > maxMs) break;
  }
  return performance.now() - start;
}
