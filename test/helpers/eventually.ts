/** Waiting for conditions that need I/O to check (HTTP answers), never for a fixed time. */
import { badge } from './api-client.js';
import type { ServerProcess } from './server-process.js';

/** Calls `check` every 20 ms until it answers true; rejects after `ms` with `what` and the last note. */
export async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until GET /badge of `account` answers `expected`. */
export async function badgeBecomes(
  server: Pick<ServerProcess, 'http' | 'apiKey'>,
  account: string,
  expected: number,
  ms = 5000,
): Promise<void> {
  let last = -1;
  await eventually(
    async () => {
      last = (await badge(server, account)).badge;
      return last === expected;
    },
    ms,
    `badge of ${account} to become ${expected}`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (last ${last})`);
  });
}

/** Sleeps: only to let a bounded number of intervals pass, never as a wait for a result. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
