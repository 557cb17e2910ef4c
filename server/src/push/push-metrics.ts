import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { answerWithin } from '../answer-within.js';

/** The outbox's entries by state, as Store.countPushes answers them. */
export interface OutboxDepth {
  readonly pending: number;
  readonly parked: number;
}

/**
 * How long a scrape waits for the outbox count (PUSH-25). On PostgreSQL the count queues behind
 * the node's writes and may take up to the query timeout (a minute) on a busy database, longer
 * than a scraper waits (Prometheus's default scrape timeout is 10 s): the other metrics must not
 * wait for it. One second covers a count of a large outbox on an idle database many times over.
 */
export const OUTBOX_COUNT_WAIT_MS = 1000;

/** Push metrics (SPEC PUSH-9), registered on the server's registry. */
export class PushMetrics {
  /** [PUSH-25] Counts the outbox for the depth gauges (null: the store is gone, they keep their value). */
  #countOutbox: (() => Promise<OutboxDepth | null>) | null = null;
  /** The count a scrape is waiting for: both gauges, and scrapes at once, share it. */
  #counting: Promise<void> | null = null;

  readonly queued = new Counter({
    name: 'badgesync_push_queued_total',
    help: 'devices put in the outbox',
    registers: [],
  });
  readonly sent = new Counter({ name: 'badgesync_pushes_sent_total', help: 'pushes APNs accepted', registers: [] });
  readonly failed = new Counter({
    name: 'badgesync_pushes_failed_total',
    help: 'pushes APNs refused, by reason',
    labelNames: ['reason'],
    registers: [],
  });
  readonly retried = new Counter({
    name: 'badgesync_pushes_retried_total',
    help: 'pushes scheduled again after 429/5xx/network errors',
    labelNames: ['reason'],
    registers: [],
  });
  readonly parked = new Counter({
    name: 'badgesync_pushes_parked_total',
    help: 'pushes parked after the last retry',
    registers: [],
  });
  readonly skipped = new Counter({
    name: 'badgesync_pushes_skipped_total',
    help: 'queued devices not pushed: online, or APNs already has the number',
    labelNames: ['reason'],
    registers: [],
  });
  /** [PUSH-25] Read from the outbox when scraped. */
  readonly depth = new Gauge({
    name: 'badgesync_push_queue_depth',
    help: 'pending pushes',
    registers: [],
    collect: () => this.#measureOutbox(),
  });
  /** [PUSH-25] Read from the outbox when scraped. */
  readonly parkedDepth = new Gauge({
    name: 'badgesync_push_parked',
    help: 'parked pushes',
    registers: [],
    collect: () => this.#measureOutbox(),
  });
  readonly latency = new Histogram({
    name: 'badgesync_push_latency_seconds',
    help: 'from the counts change to APNs accepting the push',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60],
    registers: [],
  });

  constructor(registry: Registry) {
    for (const metric of [
      this.queued,
      this.sent,
      this.failed,
      this.retried,
      this.parked,
      this.skipped,
      this.depth,
      this.parkedDepth,
      this.latency,
    ] as const) {
      registry.registerMetric(metric as Parameters<Registry['registerMetric']>[0]);
    }
  }

  /**
   * [PUSH-25] Where the depth gauges are read from: the outbox is counted when they are scraped
   * (a full count of it), never on a change, so a stream of changes costs no count at all.
   */
  countOutboxWith(count: () => Promise<OutboxDepth | null>): void {
    this.#countOutbox = count;
  }

  /**
   * A scrape waits for the count at most OUTBOX_COUNT_WAIT_MS; a later count still lands on
   * the gauges for the next scrape, and no second count starts while one is in flight.
   */
  #measureOutbox(): Promise<void> {
    this.#counting ??= this.#count().finally(() => {
      this.#counting = null;
    });
    return answerWithin(this.#counting, OUTBOX_COUNT_WAIT_MS, undefined);
  }

  async #count(): Promise<void> {
    const depth = (await this.#countOutbox?.()) ?? null;
    if (depth === null) return;
    this.depth.set(depth.pending);
    this.parkedDepth.set(depth.parked);
  }
}
