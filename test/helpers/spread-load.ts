/**
 * Ingests spread over the nodes of a cluster, as a backend behind a load balancer sends them:
 * each POST goes to a node picked at random among the ones the test currently routes to. Each
 * is recorded as acknowledged only when its 200 answer arrived; every other outcome is kept,
 * with the node, for the test to judge.
 */
import { seeded } from './load.js';
import type { ServerProcess } from './server-process.js';

/**
 * After a POST failed on the network (its node is gone) the worker waits this long before its
 * next one: a dead node refuses at once, and a worker looping on refusals would take the CPU the
 * live nodes need on a 2-core machine.
 */
const AFTER_NETWORK_ERROR_MS = 20;

type Node = Pick<ServerProcess, 'http' | 'apiKey'>;

export interface SpreadTally {
  /** Per thread, the sum of counts of acknowledged POSTs. */
  readonly acked: Map<string, number>;
  /** Per thread, the highest head an acknowledged POST answered. */
  readonly answeredHead: Map<string, number>;
  /** Acknowledged POSTs per node (its `http` address). */
  readonly ackedBy: Map<string, number>;
  /** Acknowledged POSTs in all. */
  requests: number;
  /** Answers other than 200, and POSTs that failed on the network: `{ node, what }`. */
  readonly failures: Array<{ node: string; what: string }>;
}

export interface SpreadStream {
  readonly tally: SpreadTally;
  /** Asks every worker to stop after its current call; resolves when all have. */
  stop(): Promise<void>;
}

/**
 * Runs `workers` loops of POST /items on `account`, each to a node of `route()` picked at
 * random (called per POST, so the test changes the routing as nodes die and come back), over
 * `threads` with counts 1–5, by `seed`.
 */
export function spreadIngests(
  route: () => readonly Node[],
  account: string,
  threads: readonly string[],
  options: { workers: number; seed: number },
): SpreadStream {
  const random = seeded(options.seed);
  const tally: SpreadTally = {
    acked: new Map(),
    answeredHead: new Map(),
    ackedBy: new Map(),
    requests: 0,
    failures: [],
  };
  let running = true;
  const ingest = async () => {
    while (running) {
      const nodes = route();
      const node = nodes[Math.floor(random() * nodes.length)];
      if (node === undefined) throw new Error('no node to send ingests to');
      const thread = threads[Math.floor(random() * threads.length)] as string;
      const count = 1 + Math.floor(random() * 5);
      let status: number;
      let text: string;
      try {
        const res = await fetch(`${node.http}/v1/accounts/${account}/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${node.apiKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ thread, count }),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        tally.failures.push({ node: node.http, what: `network: ${(err as Error).message}` });
        await new Promise((r) => setTimeout(r, AFTER_NETWORK_ERROR_MS));
        continue;
      }
      if (status !== 200) {
        tally.failures.push({ node: node.http, what: `${status} ${text}` });
        continue;
      }
      const answer = JSON.parse(text) as { head: number };
      tally.acked.set(thread, (tally.acked.get(thread) ?? 0) + count);
      tally.answeredHead.set(thread, Math.max(tally.answeredHead.get(thread) ?? 0, answer.head));
      tally.ackedBy.set(node.http, (tally.ackedBy.get(node.http) ?? 0) + 1);
      tally.requests++;
    }
  };
  const loops = Array.from({ length: options.workers }, ingest);
  return {
    tally,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
