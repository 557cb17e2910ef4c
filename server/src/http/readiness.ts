/**
 * `GET /readyz` (SPEC OPS-6): whether this node should be sent traffic. Not ready while it
 * drains (SIGTERM) or while a service it needs does not answer: the database (cluster mode's
 * PostgreSQL; the embedded SQLite always answers) and Redis (cluster mode).
 */

import { answerWithin } from '../answer-within.js';

/** Why a node is not ready, as /readyz lists it. */
export const NotReady = {
  draining: 'draining',
  database: 'database',
  redis: 'redis',
} as const;
export type NotReady = (typeof NotReady)[keyof typeof NotReady];

/**
 * How long one check may take before it counts as failed: a load balancer's probe times out
 * after a second or two, and a database that answers slower than this is no place to send
 * devices either.
 */
export const READY_CHECK_TIMEOUT_MS = 1_000;

/** A service the node needs, and how to ask whether it answers. */
export interface ReadinessProbe {
  readonly reason: NotReady;
  check(): Promise<boolean>;
}

export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly NotReady[];
}

/** Runs every probe at once (each bounded by READY_CHECK_TIMEOUT_MS) and says what is not ready. */
export async function checkReadiness(draining: boolean, probes: readonly ReadinessProbe[]): Promise<Readiness> {
  const reasons: NotReady[] = draining ? [NotReady.draining] : [];
  const answers = await Promise.all(
    probes.map((probe) =>
      answerWithin(
        probe.check().catch(() => false),
        READY_CHECK_TIMEOUT_MS,
        false,
      ),
    ),
  );
  probes.forEach((probe, i) => {
    if (answers[i] !== true) reasons.push(probe.reason);
  });
  return { ready: reasons.length === 0, reasons };
}
