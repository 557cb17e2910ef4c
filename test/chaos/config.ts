/**
 * What a chaos run is made of (sizes, rates, timings) and the bound the design promises for
 * those timings. Two presets: `quick` (CI, about a minute, a few dozen devices) and `long`
 * (`pnpm chaos --long`, hundreds of devices, a few minutes).
 */

/** Server and SDK timings: short, so a minute holds many heartbeats, graces and windows. */
export const TIMINGS = {
  /** BADGESYNC_HEARTBEAT_MS: a silent link is cut within 2.25 intervals (SPEC SYNC-8). */
  heartbeatMs: 500,
  /** BADGESYNC_OFFLINE_GRACE_MS. */
  graceMs: 300,
  /** BADGESYNC_PUSH_DELAY_MS: the coalescing window. */
  windowMs: 200,
  /** The SDK's liveness interval (BadgeSync `heartbeatMs`), equal to the server's as by default. */
  sdkHeartbeatMs: 500,
  /**
   * The SDK's reconnect backoff: first retry within 50 ms, ceiling 1 s (the default's 0.5 s
   * and 30 s scaled down). The ceiling bounds how long a foreground device waits after its
   * network or the server comes back.
   */
  sdkBackoff: { baseMs: 50, capMs: 1_000 },
  /**
   * One APNs round trip, stated: from the scheduler's send to the test APNs server's answer,
   * on this 2-core machine with the whole simulation in one process (apns2, HTTP/2 over TLS on
   * loopback, event-loop lag of a busy test process). Measured answers are printed next to it.
   */
  apnsRoundTripMs: 100,
  /**
   * Simulated time = wall time × 20: the production heartbeat (10 s) over ours (0.5 s). One
   * minute of run is 20 minutes of a device's life, for pushes per device per hour.
   */
  simulatedTimeScale: 20,
} as const;

/** The server's environment for these timings. */
export function serverTimingEnv(): Record<string, string> {
  return {
    BADGESYNC_HEARTBEAT_MS: String(TIMINGS.heartbeatMs),
    BADGESYNC_OFFLINE_GRACE_MS: String(TIMINGS.graceMs),
    BADGESYNC_PUSH_DELAY_MS: String(TIMINGS.windowMs),
  };
}

/** The promised bound and its parts (ms). */
export interface Bound {
  readonly heartbeatMs: number;
  readonly graceMs: number;
  readonly windowMs: number;
  readonly apnsRoundTripsMs: number;
  readonly totalMs: number;
}

/**
 * The longest a device may show a wrong badge while the system can reach it, by the design:
 *
 *   2.25 × heartbeat   a backgrounded app whose last connection died silently is cut (SYNC-8)
 * + offline grace      it then counts as online a little longer (PUSH-4)
 * + coalescing window  its push waits one window (PUSH-5)
 * + 2 APNs round trips the push before it may still be in flight: the new one waits for it to
 *                      settle, then a window, then its own round trip (PUSH-5)
 *
 * A clean disconnect, a change of counts and a foreground device's reconnect (SDK backoff
 * ceiling + a sync) all fit inside it. APNs phases that fail or answer slowly add their own
 * allowance (`apnsAllowanceMs`).
 */
export function promisedBound(): Bound {
  const heartbeatMs = 2.25 * TIMINGS.heartbeatMs;
  const apnsRoundTripsMs = 2 * TIMINGS.apnsRoundTripMs;
  return {
    heartbeatMs,
    graceMs: TIMINGS.graceMs,
    windowMs: TIMINGS.windowMs,
    apnsRoundTripsMs,
    totalMs: heartbeatMs + TIMINGS.graceMs + TIMINGS.windowMs + apnsRoundTripsMs,
  };
}

/** The server's retry schedule (SPEC PUSH-7, server/src/push/backoff.ts): 1 s doubling, full jitter in [c/2, c]. */
export const APNS_RETRY_BASE_MS = 1_000;

/**
 * Extra time an interval may take when it meets an APNs phase, by PUSH-7:
 *
 * - failing for L ms (429 or 503 to every push): retries at ≥ 0.5 s, 1 s, 2 s, … apart fit
 *   k failures in L only if 0.5 s × (2^(k−1) − 1) ≤ L, so the delay after the last failure is
 *   at most 1 s × 2^(k−1) ≤ 2L + 1 s. Allowance: the phase itself plus that delay, 3L + 1 s.
 * - slow (every answer delayed by d): both round trips of the bound take d longer, 2d.
 */
export function apnsAllowanceMs(phase: ApnsPhase): number {
  const length = phase.endMs - phase.startMs;
  return phase.mode === 'slow' ? 2 * phase.delayMs : 3 * length + APNS_RETRY_BASE_MS;
}

/** How long after a phase ends its effects can last (the retry waiting, or the last slow answer). */
export function apnsTailMs(phase: ApnsPhase): number {
  const length = phase.endMs - phase.startMs;
  return phase.mode === 'slow' ? phase.delayMs : 2 * length + APNS_RETRY_BASE_MS;
}

/**
 * Extra time an interval may take when it spans a server outage (`kill -9` to listening,
 * which is excused itself): what the killed process had under way is lost — a heartbeat
 * timeout half run, a grace period, a push in its window, an SDK's reconnect — and starts
 * over. After a restart the server queues every device APNs lacks the badge of once a grace
 * period has let devices reconnect, then pushes a window later (PUSH-8); a foreground SDK
 * reconnects within its backoff ceiling. The larger of the two.
 */
export function restartAllowanceMs(): number {
  return Math.max(TIMINGS.graceMs + TIMINGS.windowMs + 2 * TIMINGS.apnsRoundTripMs, TIMINGS.sdkBackoff.capMs);
}

/**
 * The cluster's reconciliation interval (docs/CLUSTER.md "Pub/sub loses messages", RECONCILE_MS
 * in server/src/cluster/cluster-link.ts): a node killed between its commit and its publish
 * sends its last update to nobody, and each live node finds it at its next reconciliation, on
 * its own 3 s cycle. The truth watcher's node and a device's node may find it up to one
 * interval apart.
 */
export const CLUSTER_RECONCILE_MS = 3_000;

/**
 * Extra time in a cluster run for an interval that meets a node's outage or the reconciliation
 * interval after it (`kill -9` of one node): the restart allowance (the killed node's timers,
 * its restart sweep, a device's reconnect to another node) plus the reconciliation interval
 * (a lost last update reaches the truth's node and the device's node up to one interval apart).
 */
export function clusterRestartAllowanceMs(): number {
  return restartAllowanceMs() + CLUSTER_RECONCILE_MS;
}

export interface ApnsPhase {
  readonly mode: 'too-many-requests' | 'unavailable' | 'slow';
  /** Relative to the chaos start. */
  readonly startMs: number;
  readonly endMs: number;
  /** `slow` only. */
  readonly delayMs: number;
}

/** Sizes and rates of one run. Rates are per second. */
export interface ChaosConfig {
  readonly name: string;
  readonly seed: number;
  /** People; each has one or two accounts and a few devices. */
  readonly persons: number;
  readonly devicesPerPerson: readonly [number, number];
  readonly secondAccountChance: number;
  /** Share of devices with an APNs token (the rest are web-only). */
  readonly tokenChance: number;
  readonly threads: readonly string[];
  /** Length of the chaos phase, ms; then faults heal and the run settles. */
  readonly durationMs: number;
  /** How long the settle phase may wait for every device to be right, ms. */
  readonly settleMs: number;
  /** `kill -9` and restart of the server, at least one. */
  readonly kills: number;
  /**
   * 1: one server on SQLite. More: a cluster of that many nodes (PostgreSQL, Redis) with the
   * devices spread over them; each kill takes down one node.
   */
  readonly nodes: number;
  readonly apnsPhases: number;
  readonly rates: {
    /** App dwell times, ms ranges. */
    readonly foregroundMs: readonly [number, number];
    readonly backgroundMs: readonly [number, number];
    /** Network faults per device. */
    readonly linkFault: number;
    /** Share of backgroundings that follow a silent drop by under two heartbeats (the lift). */
    readonly liftChance: number;
    readonly cutMs: readonly [number, number];
    readonly blackholeMs: readonly [number, number];
    readonly stallMs: readonly [number, number];
    /** Per device, while in the foreground. */
    readonly read: number;
    readonly mute: number;
    readonly signToggle: number;
    /** Per account. */
    readonly items: number;
    readonly burst: number;
    readonly serverRead: number;
  };
}

const THREADS = ['inbox', 'team', 'news', 'alerts'] as const;

const RATES: ChaosConfig['rates'] = {
  foregroundMs: [1_500, 7_000],
  backgroundMs: [1_000, 7_000],
  linkFault: 1 / 12,
  liftChance: 0.25,
  cutMs: [300, 3_000],
  blackholeMs: [500, 8_000],
  stallMs: [100, 1_600],
  read: 0.35,
  mute: 0.04,
  signToggle: 0.1,
  items: 0.4,
  burst: 1 / 25,
  serverRead: 0.12,
};

/** CI: about a minute on 2 cores, a few dozen devices. */
export function quickConfig(seed: number, overrides: Partial<ChaosConfig> = {}): ChaosConfig {
  return {
    name: 'quick',
    seed,
    persons: 10,
    devicesPerPerson: [2, 5],
    secondAccountChance: 0.5,
    tokenChance: 0.6,
    threads: THREADS,
    durationMs: 40_000,
    settleMs: 15_000,
    kills: 1,
    nodes: 1,
    apnsPhases: 3,
    rates: RATES,
    ...overrides,
  };
}

/** `pnpm chaos --cluster`: the same run over three nodes of one cluster. */
export const CLUSTER_NODES = 3;

/** `pnpm chaos --long`: hundreds of devices, a few minutes. */
export function longConfig(seed: number, overrides: Partial<ChaosConfig> = {}): ChaosConfig {
  return {
    ...quickConfig(seed),
    name: 'long',
    persons: 90,
    durationMs: 180_000,
    settleMs: 20_000,
    kills: 2,
    apnsPhases: 8,
    ...overrides,
  };
}
