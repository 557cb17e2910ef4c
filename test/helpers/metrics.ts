/** Reads a server's Prometheus text from GET /metrics. */
import type { ServerProcess } from './server-process.js';

export async function scrape(server: Pick<ServerProcess, 'http'>): Promise<string> {
  const res = await fetch(`${server.http}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  return res.text();
}

/**
 * The sum of the samples of metric `name` whose labels include `labels` (0 when none: a
 * labelled counter that never counted has no sample line).
 */
export function sample(text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found = new Map<string, string>();
    for (const pair of (match[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      found.set(pair[1] as string, pair[2] as string);
    }
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) sum += Number(match[4]);
  }
  return sum;
}

/** Scrapes and answers one metric's sum. */
export async function metric(
  server: Pick<ServerProcess, 'http'>,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  return sample(await scrape(server), name, labels);
}
