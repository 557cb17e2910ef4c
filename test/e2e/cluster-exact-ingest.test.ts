/**
 * Exact ingest across nodes (docs/CLUSTER.md "Exact ingest and counts", SPEC CLUSTER-40,
 * CLUSTER-41): server processes of one cluster (one fresh PostgreSQL database, one Redis key
 * prefix) taking items for one thread at the same moment.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { type ClusterRig, clusterRig } from '../helpers/cluster.js';
import { type ServerProcess, stopAll } from '../helpers/server-process.js';

describe('cluster mode: exact ingest on three nodes', () => {
  let rig: ClusterRig;
  let nodes: ServerProcess[] = [];

  beforeAll(async () => {
    rig = await clusterRig();
    nodes = await Promise.all([rig.start('exact-a'), rig.start('exact-b'), rig.start('exact-c')]);
  });
  afterAll(async () => {
    await stopAll();
    await rig?.drop();
  });

  test('[CLUSTER-40] concurrent POSTs of items for one thread to the nodes: every head answered once, GET badge on every node is the number of items', async () => {
    const PER_NODE = 20;
    const posts: Array<Promise<{ status: number; body: { head: number } }>> = [];
    for (let i = 0; i < PER_NODE; i++) {
      for (const node of nodes) {
        posts.push(api<{ head: number }>(node, 'POST', '/v1/accounts/exact/items', { thread: 'inbox' }));
      }
    }
    const answers = await Promise.all(posts);
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const total = PER_NODE * nodes.length;
    assert.deepEqual(
      answers.map((a) => a.body.head).sort((x, y) => x - y),
      Array.from({ length: total }, (_, i) => i + 1),
      'heads 1..n, each answered once',
    );
    // Each answer came once its counts were on disk: no waiting for anything to converge.
    for (const node of nodes) {
      const counts = await badge(node, 'exact');
      assert.equal(counts.badge, total, 'GET badge is every item');
      assert.equal(counts.threads.inbox, total);
    }
  });

  test('[CLUSTER-40] one idempotency key posted to every node at once adds once, and every node answers the same', async () => {
    const KEYS = 12;
    for (let i = 0; i < KEYS; i++) {
      const body = { thread: 'keys', count: 2, idempotencyKey: `msg-${i}` };
      const answers = await Promise.all(
        nodes.map((node) => api<{ head: number }>(node, 'POST', '/v1/accounts/exact-keys/items', body)),
      );
      const [first] = answers;
      assert.ok(first !== undefined);
      for (const answer of answers) {
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.deepEqual(answer.body, first.body, 'the first answer, from every node');
      }
      assert.equal(first.body.head, 2 * (i + 1), 'added once');
    }
    for (const node of nodes) assert.equal((await badge(node, 'exact-keys')).badge, 2 * KEYS);
  });
});
