import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Push metrics (SPEC PUSH-9), registered on the server's registry. */
export class PushMetrics {
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
  readonly depth = new Gauge({ name: 'badgesync_push_queue_depth', help: 'pending pushes', registers: [] });
  readonly parkedDepth = new Gauge({ name: 'badgesync_push_parked', help: 'parked pushes', registers: [] });
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
}
