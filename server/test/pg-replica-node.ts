/**
 * A cluster node as the exact-ingest tests see it (docs/CLUSTER.md "Exact ingest and counts"):
 * one PgStore (its own pool) and one replica of an account's document with the seq through
 * which it holds the whole log (its watermark). It writes as a node does: ingests and catch-up
 * counts through `exclusive` (SPEC STORE-26, STORE-28), device markers through a commit whose
 * counts name the watermark (STORE-27), repaired when reported stale.
 */
import {
  type AccountCounts,
  type AccountId,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  planRead,
  type ThreadId,
} from '@badgesync/shared';
import * as Y from 'yjs';
import type { ExclusiveTail, PgStore } from '../src/store/index.js';

/** Transaction origin of log entries applied to the replica: nothing to capture. */
const FROM_LOG = Symbol('from-log');

export interface IngestAnswer {
  readonly thread: string;
  readonly head: number;
  readonly badge: number;
}

export class ReplicaNode {
  readonly doc = new Y.Doc();
  readonly tracker = new CountsTracker(this.doc);
  readonly #heads = new KeyValueArray(this.doc, HEADS_ROOT);
  /** Every log seq up to this one is in the replica. */
  watermark = 0;
  readonly stats = { ingests: 0, stored: 0, markers: 0, stale: 0, repairs: 0 };

  constructor(
    readonly store: PgStore,
    readonly account: AccountId,
  ) {}

  /** Applies log entries after the watermark (a catch-up, or exclusive's tail). */
  #apply(tail: { readonly updates: readonly Uint8Array[]; readonly lastSeq: number }): void {
    this.doc.transact(() => {
      for (const update of tail.updates) Y.applyUpdate(this.doc, update, FROM_LOG);
    }, FROM_LOG);
    this.watermark = Math.max(this.watermark, tail.lastSeq);
  }

  /** Runs `write` on the replica and answers the update it made (null: none). */
  #capture(write: () => void): Uint8Array | null {
    const made: Uint8Array[] = [];
    const listen = (update: Uint8Array, origin: unknown) => {
      if (origin !== FROM_LOG) made.push(update);
    };
    this.doc.on('update', listen);
    try {
      this.doc.transact(write);
    } finally {
      this.doc.off('update', listen);
    }
    return made.length === 0 ? null : Y.mergeUpdates(made);
  }

  /** [API-2] in cluster mode: the head from the whole log, written with the key's answer in one transaction. */
  async ingest(thread: ThreadId, count: number, key?: string): Promise<IngestAnswer> {
    const result = await this.store.exclusive(
      this.account,
      {
        heldThrough: () => this.watermark,
        ...(key === undefined ? {} : { idempotency: { key, notBefore: 0 } }),
      },
      (tail: ExclusiveTail) => {
        this.#apply(tail);
        const head = this.tracker.head(thread) + count;
        const update = this.#capture(() => this.#heads.set(thread, head));
        const answer: IngestAnswer = { thread, head, badge: this.tracker.badge };
        const at = Date.now();
        return {
          batch: {
            updates: update === null ? [] : [{ account: this.account, update }],
            counts: [{ account: this.account, counts: this.tracker.counts() }],
            bindings: [],
            idempotency:
              key === undefined ? [] : [{ account: this.account, key, response: JSON.stringify(answer), at }],
          },
          answer,
        };
      },
    );
    if (result.kind === 'stored') {
      this.stats.stored++;
      return JSON.parse(result.response) as IngestAnswer;
    }
    this.stats.ingests++;
    this.#committed(result.seqs.map((s) => s.seq));
    return result.answer;
  }

  /**
   * A device reads `thread` up to `fraction` of the head its replica knows, as a device update
   * the node judged and commits: counts named with the watermark; repaired when stale.
   */
  async readMarker(device: DeviceId, thread: ThreadId, fraction: number): Promise<void> {
    const seq = Math.floor(this.tracker.head(thread) * fraction);
    const value = planRead(this.tracker, thread, device, seq);
    if (value === null) return;
    const update = this.#capture(() => new KeyValueArray(this.doc, deviceRoot(device)).set(thread, value));
    if (update === null) return;
    this.stats.markers++;
    const report = await this.store.commitReporting({
      updates: [{ account: this.account, update }],
      // Every commit of the account's updates names its watermark, whether or not the replica's
      // counts changed: on the whole log they may have.
      counts: [{ account: this.account, counts: this.tracker.counts(), heldThrough: this.watermark }],
      bindings: [],
      idempotency: [],
    });
    if (report.staleCounts.includes(this.account)) {
      this.stats.stale++;
      await this.writeExactCounts();
    } else this.#committed(report.seqs.map((s) => s.seq));
  }

  /** [STORE-27] The repair: under the lock, the tail applied, the counts of the whole log written. */
  async writeExactCounts(): Promise<void> {
    this.stats.repairs++;
    await this.store.exclusive(this.account, { heldThrough: () => this.watermark }, (tail) => {
      this.#apply(tail);
      const counts: AccountCounts = this.tracker.counts();
      return {
        batch: { updates: [], counts: [{ account: this.account, counts }], bindings: [], idempotency: [] },
        answer: undefined,
      };
    });
  }

  /** What the bus and reconciliation do: the entries after the watermark, applied (no counts written). */
  async catchUp(): Promise<void> {
    this.#apply(await this.store.loadLogSince(this.account, this.watermark));
  }

  /** This node's own seqs: the watermark moves over them when they follow on. */
  #committed(seqs: readonly number[]): void {
    for (const seq of seqs) if (seq === this.watermark + 1) this.watermark = seq;
  }

  close(): void {
    this.tracker.destroy();
    this.doc.destroy();
  }
}

/** The counts of the account's whole stored log, replayed on a fresh document. */
export async function countsOfStoredLog(store: PgStore, account: AccountId): Promise<AccountCounts> {
  const stored = await store.loadDoc(account);
  const doc = new Y.Doc();
  try {
    doc.transact(() => {
      for (const update of stored.updates) Y.applyUpdate(doc, update);
    });
    return deriveCounts(doc);
  } finally {
    doc.destroy();
  }
}
