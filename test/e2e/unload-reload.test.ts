/**
 * Documents unloaded and reloaded under writes (SYNC-7): with at most two documents in
 * memory, ingests to twenty accounts interleave with device connections that read; every
 * count is right at the end, before and after a restart.
 */
import assert from 'node:assert/strict';
import type { AccountCounts } from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import { type ApiAnswer, api, badge } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { headOf } from '../helpers/entries.js';
import { badgeBecomes } from '../helpers/eventually.js';
import { seeded } from '../helpers/load.js';
import { markRead } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { synced } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const ACCOUNTS = Array.from({ length: 20 }, (_, i) => `acct-${i}`);
const THREADS = ['inbox', 'news'];
const ROUNDS = 3;

/** The plain model of what was written: heads and the largest read per account and thread. */
class Model {
  readonly heads = new Map<string, number>();
  readonly reads = new Map<string, number>();

  add(account: string, thread: string, count: number): void {
    const key = `${account}/${thread}`;
    this.heads.set(key, (this.heads.get(key) ?? 0) + count);
  }

  read(account: string, thread: string, seq: number): void {
    const key = `${account}/${thread}`;
    this.reads.set(key, Math.max(this.reads.get(key) ?? 0, seq));
  }

  counts(account: string): AccountCounts {
    const threads: Record<string, number> = {};
    let total = 0;
    for (const thread of THREADS) {
      const head = this.heads.get(`${account}/${thread}`);
      if (head === undefined) continue;
      threads[thread] = head - (this.reads.get(`${account}/${thread}`) ?? 0);
      total += threads[thread] as number;
    }
    return { badge: total, threads, muted: [] };
  }
}

describe('unloading and reloading documents under writes', () => {
  let server: ServerProcess;
  let overloaded = 0;
  beforeAll(async () => {
    server = await startServer({ env: { BADGESYNC_MAX_LOADED_DOCS: '2' } });
  });
  const devices = new DeviceSet();
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  /**
   * POSTs like a backend would: a 503 "try later" (every loaded document busy) is retried.
   * Anything else but 200 fails the test.
   */
  async function ingest(account: string, thread: string, count: number): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const answer: ApiAnswer = await api(server, 'POST', `/v1/accounts/${account}/items`, { thread, count });
      if (answer.status === 200) return;
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      overloaded++;
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.fail(`${account} stayed overloaded`);
  }

  test('[SYNC-7] twenty accounts through two loaded documents: every count right', async () => {
    const model = new Model();
    const random = seeded(424242);
    for (let round = 0; round < ROUNDS; round++) {
      // Ingests to every account, four at a time: more accounts in flight than documents allowed.
      const queue = ACCOUNTS.flatMap((account) =>
        THREADS.map((thread) => ({ account, thread, count: 1 + Math.floor(random() * 4) })),
      );
      const workers = Array.from({ length: 4 }, async () => {
        for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
          // Enough small writes per account that unloading compacts the log.
          for (let i = 0; i < 4; i++) {
            await ingest(job.account, job.thread, job.count);
            model.add(job.account, job.thread, job.count);
          }
        }
      });
      await Promise.all(workers);
      assert.ok((await metric(server, 'badgesync_loaded_docs')) <= 2, 'never more than two documents loaded');

      // A device of some accounts connects (reloading the document), checks it, reads, leaves;
      // meanwhile ingests to another account use the one document slot left.
      for (const account of ACCOUNTS.filter((_, i) => i % 5 === round)) {
        const phone = await devices.connect(server, account, 'phone');
        await synced(phone, 15_000);
        for (const thread of THREADS) {
          assert.equal(headOf(phone.doc, thread), model.heads.get(`${account}/${thread}`), `${account} reloaded whole`);
        }
        const other = ACCOUNTS[(ACCOUNTS.indexOf(account) + 7) % ACCOUNTS.length] as string;
        const seq = Math.floor(headOf(phone.doc, 'inbox') / 2);
        markRead(phone.doc, 'phone', 'inbox', seq);
        model.read(account, 'inbox', seq);
        await ingest(other, 'news', 1);
        model.add(other, 'news', 1);
        await badgeBecomes(server, account, model.counts(account).badge);
        devices.destroy(phone);
      }
    }

    for (const account of ACCOUNTS) assert.deepEqual(await badge(server, account), model.counts(account), account);
    assert.equal(await server.stop(), 0);
    server = await server.restart({ BADGESYNC_MAX_LOADED_DOCS: '2' });
    for (const account of ACCOUNTS) {
      assert.deepEqual(await badge(server, account), model.counts(account), `${account} after restart`);
      const reader = await RawClient.synced(server, account, 'reader');
      for (const thread of THREADS) {
        assert.equal(headOf(reader.doc, thread), model.heads.get(`${account}/${thread}`));
      }
      reader.close();
    }
    // Not an assertion on timing: just so a run shows how often the cap pushed back.
    console.log(`503 retries: ${overloaded}`);
  });
});
