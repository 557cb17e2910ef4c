/**
 * Streams of backend calls for durability tests: many ingests in flight at once, each
 * recorded only when its 200 answer arrived (acknowledged), until told to stop or the
 * server goes away.
 */
import type { ServerProcess } from './server-process.js';

export interface IngestTally {
  /** Per thread, the sum of counts of acknowledged POSTs. */
  readonly acked: Map<string, number>;
  /** Per thread, the highest head an acknowledged POST answered. */
  readonly answeredHead: Map<string, number>;
  /** Acknowledged POSTs. */
  requests: number;
  /** Answers other than 200 (a server under test should give none while it runs). */
  readonly failures: string[];
}

export interface Stream {
  readonly tally: IngestTally;
  /** Asks every worker to stop after its current call; resolves when all have. */
  stop(): Promise<void>;
}

/** A deterministic generator (mulberry32), so a failing run can be replayed by seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs `workers` loops of POST /items on `account` over `threads` with counts 1–5, and
 * `readers` loops of GET /badge. A call that fails on the network ends its loop (the server
 * was killed); it is not acknowledged.
 */
export function ingestStream(
  server: Pick<ServerProcess, 'http' | 'apiKey'>,
  account: string,
  threads: readonly string[],
  options: { workers: number; readers: number; seed: number; onAck?: (tally: IngestTally) => void },
): Stream {
  const random = seeded(options.seed);
  const tally: IngestTally = { acked: new Map(), answeredHead: new Map(), requests: 0, failures: [] };
  let running = true;
  const headers = { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' };
  const ingest = async () => {
    while (running) {
      const thread = threads[Math.floor(random() * threads.length)] as string;
      const count = 1 + Math.floor(random() * 5);
      let res: Response;
      try {
        res = await fetch(`${server.http}/v1/accounts/${account}/items`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ thread, count }),
        });
      } catch {
        return;
      }
      const text = await res.text().catch(() => null);
      if (text === null) return;
      if (res.status !== 200) {
        tally.failures.push(`${res.status} ${text}`);
        continue;
      }
      const answer = JSON.parse(text) as { head: number };
      tally.acked.set(thread, (tally.acked.get(thread) ?? 0) + count);
      tally.answeredHead.set(thread, Math.max(tally.answeredHead.get(thread) ?? 0, answer.head));
      tally.requests++;
      options.onAck?.(tally);
    }
  };
  const read = async () => {
    while (running) {
      try {
        const res = await fetch(`${server.http}/v1/accounts/${account}/badge`, { headers });
        await res.text();
      } catch {
        return;
      }
    }
  };
  const loops = [...Array.from({ length: options.workers }, ingest), ...Array.from({ length: options.readers }, read)];
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
