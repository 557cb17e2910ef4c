import assert from 'node:assert/strict';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { describe, test } from 'vitest';
import { Metrics } from '../src/metrics.js';
import { COMMIT_GATHER, GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { Store, WriteBatch } from '../src/store/store.js';

const A = 'acct' as AccountId;
const D = 'dev' as DeviceId;
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A MemoryStore that records every batch it is asked to commit, and can be made to fail. */
class RecordingStore extends MemoryStore {
  readonly batches: WriteBatch[] = [];
  failWith: Error | null = null;
  override commit(batch: WriteBatch): void {
    if (this.failWith) throw this.failWith;
    this.batches.push(batch);
    super.commit(batch);
  }
}

describe('group commit', () => {
  test('[STORE-17] everything added in one turn is one transaction, and callbacks run after it', async () => {
    const store = new RecordingStore();
    const commit = new GroupCommit(asyncStore(store), new Metrics(), (err) => assert.fail(String(err)));
    const seen: string[] = [];
    commit.addUpdate(A, new Uint8Array([0, 0]));
    commit.addBinding(A, 7, D);
    commit.afterCommit(() => seen.push(`after first: ${store.batches.length}`));
    commit.addUpdate(A, new Uint8Array([0, 0]));
    commit.addIdempotency(A, 'k', '{}', 1);
    commit.markCounts(A, () => ({ counts: { badge: 3, threads: { t: 3 }, muted: [] } }));
    assert.equal(commit.pending, true);
    assert.deepEqual(seen, [], 'nothing runs before the commit');
    await commit.flushed();
    assert.equal(store.batches.length, 1);
    const batch = store.batches[0] as WriteBatch;
    assert.equal(batch.updates.length, 2);
    assert.equal(batch.bindings.length, 1);
    assert.equal(batch.idempotency.length, 1);
    assert.deepEqual(batch.counts, [{ account: A, counts: { badge: 3, threads: { t: 3 }, muted: [] } }]);
    assert.deepEqual(seen, ['after first: 1']);
    assert.equal(store.getCounts(A)?.badge, 3);
    await turn();
    assert.equal(store.batches.length, 1, 'an idle turn commits nothing');
    let ran = false;
    commit.afterCommit(() => {
      ran = true;
    });
    assert.equal(ran, true, 'with nothing pending, a callback runs at once');
  });

  test('[STORE-11] a failed commit is fatal and runs no callback (memory would be ahead of disk)', async () => {
    const store = new RecordingStore();
    store.failWith = new Error('disk full');
    const fatal: unknown[] = [];
    const commit = new GroupCommit(asyncStore(store), new Metrics(), (err) => fatal.push(err));
    let relayed = false;
    commit.addUpdate(A, new Uint8Array([0, 0]));
    commit.afterCommit(() => {
      relayed = true;
    });
    await turn();
    await turn();
    assert.equal(fatal.length, 1);
    assert.equal((fatal[0] as Error).message, 'disk full');
    assert.equal(relayed, false, 'nothing is relayed or answered');
  });

  test('[SYNC-17] work between batches waits for the batch in flight, and the batch gathering meanwhile waits for it', async () => {
    const sync = new MemoryStore();
    const inner = asyncStore(sync);
    const order: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let commits = 0;
    // A store whose first commit answers only once the test releases it, as one across the network would.
    const store: Store = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'commit') {
          return async (batch: WriteBatch) => {
            const n = ++commits;
            order.push(`commit ${n} starts`);
            if (n === 1) await held;
            await target.commit(batch);
            order.push(`commit ${n} durable`);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const commit = new GroupCommit(store, new Metrics(), (err) => assert.fail(String(err)));
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    assert.deepEqual(order, ['commit 1 starts']);
    const between = commit.between(async () => {
      order.push('between');
    });
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    assert.deepEqual(order, ['commit 1 starts'], 'neither the work nor the next batch passes the batch in flight');
    release();
    await between;
    await commit.flushed();
    assert.deepEqual(order, ['commit 1 starts', 'commit 1 durable', 'between', 'commit 2 starts', 'commit 2 durable']);
    const failed = commit.between(() => Promise.reject(new Error('refused')));
    await assert.rejects(failed, /refused/);
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await commit.flushed();
    assert.equal(commits, 3, 'a failed work is not fatal: batches go on');
    await commit.close();
  });

  test('[STORE-49] a small batch right after another waits out the gathering window; a big one, or one after a quiet spell, goes at once', async () => {
    const store = new RecordingStore();
    // A window far longer than the test's turns, so "not yet" never depends on the machine's speed.
    const gather = { ms: 60_000, updates: 3 };
    const commit = new GroupCommit(
      asyncStore(store),
      new Metrics(),
      (err) => assert.fail(String(err)),
      undefined,
      0,
      gather,
    );
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    assert.equal(store.batches.length, 1, 'the first batch after a quiet spell is handed over at the next turn');
    const seen: string[] = [];
    commit.addUpdate(A, new Uint8Array([0, 0]));
    commit.afterCommit(() => seen.push('second durable'));
    await turn();
    await turn();
    assert.equal(store.batches.length, 1, 'a small batch right after another gathers');
    assert.deepEqual(seen, [], 'and nothing waiting for it runs before it is durable');
    assert.equal(commit.pending, true);
    commit.addUpdate(A, new Uint8Array([0, 0]));
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    assert.equal(store.batches.length, 2, 'once it holds `updates` updates it goes at once');
    assert.equal(store.batches[1]?.updates.length, 3);
    await commit.flushed();
    assert.deepEqual(seen, ['second durable']);
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    assert.equal(store.batches.length, 2);
    await commit.close();
    assert.equal(store.batches.length, 3, 'close() writes a gathering batch without waiting out the window');
    assert.ok(COMMIT_GATHER.ms > 0 && COMMIT_GATHER.updates > 1, 'the server gathers');
  });

  test('[STORE-49] close() with a batch in flight also writes what gathered behind it, without waiting out the window', async () => {
    const store = new RecordingStore();
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const served = asyncStore(store);
    const slow: Store = new Proxy(served, {
      get(target, prop) {
        if (prop === 'commit') {
          return async (batch: WriteBatch) => {
            if (store.batches.length === 0) await held;
            await target.commit(batch);
          };
        }
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const gather = { ms: 60_000, updates: 100 };
    const commit = new GroupCommit(slow, new Metrics(), (err) => assert.fail(String(err)), undefined, 0, gather);
    commit.addUpdate(A, new Uint8Array([0, 0]));
    await turn();
    commit.addUpdate(A, new Uint8Array([0, 0]));
    const closed = commit.close();
    release();
    await closed;
    assert.equal(store.batches.length, 2, 'the batch behind the one in flight is durable once close() resolves');
  });
});
