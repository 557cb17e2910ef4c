/**
 * One chaos run: the real server process (temp SQLite) — or, with `nodes` > 1, that many nodes
 * of one cluster (a fresh PostgreSQL database and Redis prefix, dropped after) with devices,
 * watchers, ingests and reads spread over them — the test APNs server, a truth watcher per
 * account, and the planned devices on the real SDK, each behind its own faulty
 * link. Plays the seeded plan, heals, settles, checks the end state, and returns everything
 * the report needs. Every process, server, socket and timer it made is gone when it returns
 * or throws. (Longer than most files here: it is one run, top to bottom.)
 */
import type { AccountCounts } from '@badgesync/shared';
import { api, badge as getBadge } from '../helpers/api-client.js';
import { ApnsAnswers, type ApnsRequestRecord, ApnsTestServer } from '../helpers/apns-test-server.js';
import { clusterRig } from '../helpers/cluster.js';
import { apnsEnv, apnsToken, badgeOf } from '../helpers/push-rig.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { type ApnsPhase, type ChaosConfig, CLUSTER_RECONCILE_MS, serverTimingEnv, TIMINGS } from './config.js';
import { DisagreementTracker, type Interval, type Stretch } from './disagreement.js';
import { checkEndState, type EndCheck } from './end-state.js';
import { ChaosLink, loopbackAddress } from './link.js';
import { type MonitorResults, Monitors } from './monitors.js';
import { PresenceHistory, type PushVerdict } from './presence.js';
import { Random } from './random.js';
import { buildPlan, type Plan, type TimedEvent } from './schedule.js';
import { SimDevice } from './sim-device.js';
import { TruthWatchers } from './truth.js';

/** Setup (servers, certificates, devices signing in) may take this long on a loaded machine. */
const SETUP_TIMEOUT_MS = 60_000;
/** Devices set up at once: enough to be quick, few enough not to trip the server's limits. */
const SETUP_CONCURRENCY = 8;
/** The end state counts as settled once every device stayed right this long. */
const SETTLED_FOR_MS = 1_000;
/**
 * How far back a push's possible causes reach: a sign-out closes the device's connection to
 * that account, whose grace period then queues a push one window later (PUSH-3, PUSH-4); 1 s
 * more for a server whose timers run late under load.
 */
export const CAUSE_LOOKBACK_MS = TIMINGS.graceMs + TIMINGS.windowMs + 1_000;

export interface PushRecord {
  readonly device: string;
  /** ms since the chaos start. */
  readonly at: number;
  readonly badge: number | undefined;
  readonly status: number | 'cancelled';
  readonly verdict: PushVerdict;
  readonly accounts: readonly string[];
}

export interface Kill {
  /** ms since the chaos start. */
  readonly at: number;
  /** The node killed (a cluster run), or null (the one server). */
  readonly node: string | null;
  /** Devices whose connections were on the killed node (a cluster run; all of them otherwise). */
  readonly pinned: number;
  /** From the kill to the restarted process listening: excused time. */
  readonly downMs: number;
  /** From listening until every truth watcher had synced again (the truth is blind meanwhile). */
  readonly truthResyncMs: number;
}

export interface ChaosRun {
  readonly config: ChaosConfig;
  readonly plan: Plan;
  /** Epoch ms of the chaos start; interval times are epoch ms too. */
  readonly t0: number;
  /** ms from the chaos start to the end of the settle phase. */
  readonly measuredMs: number;
  readonly settleTookMs: number;
  readonly intervals: readonly Interval[];
  readonly stretches: readonly Stretch[];
  readonly pushes: readonly PushRecord[];
  readonly endedWrong: EndCheck['endedWrong'];
  readonly replicaMismatches: EndCheck['replicaMismatches'];
  readonly truthMismatches: EndCheck['truthMismatches'];
  /** Calls that failed, by what was tried: expected now and then under faults, counted. */
  readonly failures: ReadonlyMap<string, Failure>;
  readonly kills: readonly Kill[];
  /** The watchers against the stored counts during the run (README "Truth"). */
  readonly truthChecks: MonitorResults['truthChecks'];
  readonly ingest: { readonly ok: number; readonly failed: number };
  /** Event-loop delay of the test process, its stalls and the server's (monitors.ts): not excused, shown. */
  readonly eventLoopMs: MonitorResults['eventLoopMs'];
  readonly stalls: MonitorResults['stalls'];
  /** Time from a request's arrival at the test APNs server to its answer, ms. */
  readonly apnsAnswerMs: readonly number[];
  readonly tokenDevices: readonly string[];
  /** Every server process of the run (a restart is another), with what it logged: for `--logs`. */
  readonly processes: ReadonlyArray<{ readonly name: string; readonly process: ServerProcess }>;
  /** The APNs token of each token device (timelines match the nodes' short form of it). */
  readonly tokens: ReadonlyMap<string, string>;
  /** Per device, every connection its link opened: the node it reached (by name), when (epoch ms). */
  readonly connections: ReadonlyMap<string, readonly DeviceConnection[]>;
}

export interface DeviceConnection {
  readonly node: string;
  readonly openedAt: number;
  readonly closedAt: number | null;
}

export interface Failure {
  readonly count: number;
  /** The first one's message. */
  readonly example: string;
}

export interface RunOptions {
  /** Progress lines (setup steps, kills); default silent. */
  readonly log?: (line: string) => void;
  /** Stops the run early (it then throws, after cleaning up like any run). */
  readonly signal?: AbortSignal;
  /**
   * The nodes log at debug level (BADGESYNC_LOG_LEVEL=debug): a cluster node's publishes,
   * receipts, applies and presence answers, for the report's timelines (docs/CLUSTER.md "Tracing").
   */
  readonly trace?: boolean;
}

export async function runChaos(config: ChaosConfig, options: RunOptions = {}): Promise<ChaosRun> {
  const log = options.log ?? (() => {});
  const plan = buildPlan(config);
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  try {
    return await play(config, plan, cleanup, log, options.signal, options.trace ?? false);
  } finally {
    for (const step of cleanup.reverse()) await Promise.allSettled([Promise.resolve().then(step)]);
    await stopAll();
  }
}

async function play(
  config: ChaosConfig,
  plan: Plan,
  cleanup: Array<() => Promise<unknown> | unknown>,
  log: (line: string) => void,
  signal: AbortSignal | undefined,
  trace: boolean,
): Promise<ChaosRun> {
  const sleep = (ms: number) => {
    signal?.throwIfAborted();
    return new Promise<void>((resolve) => setTimeout(resolve, ms));
  };
  const setupDeadline = Date.now() + SETUP_TIMEOUT_MS;
  const failures = new Map<string, Failure>();
  const fail = (what: string, error?: unknown): void => {
    const seen = failures.get(what);
    const example = error instanceof Error ? error.message : String(error);
    failures.set(what, { count: (seen?.count ?? 0) + 1, example: seen?.example ?? example });
  };

  const apns = await ApnsTestServer.start();
  cleanup.push(() => apns.close());
  const env = { ...serverTimingEnv(), ...apnsEnv(apns), ...(trace ? { BADGESYNC_LOG_LEVEL: 'debug' } : {}) };
  const cluster = config.nodes > 1;
  // nodes[i] is node i as it is now (a restart replaces it); down[i] from its kill to listening.
  const nodes: ServerProcess[] = [];
  const down: boolean[] = [];
  if (!cluster) nodes.push(await startServer({ env }));
  else {
    const rig = await clusterRig();
    // Runs last (cleanup runs in reverse): every node gone, then the database and the keys.
    cleanup.push(async () => {
      await stopAll();
      await rig.drop();
    });
    const names = Array.from({ length: config.nodes }, (_, i) => `chaos-n${i + 1}`);
    nodes.push(...(await Promise.all(names.map((name) => rig.start(name, env)))));
  }
  for (const _ of nodes) down.push(false);
  const processes = nodes.map((process, i) => ({ name: cluster ? `chaos-n${i + 1}` : 'server', process }));
  // Which node a port is (a restart listens on another port), for the connection timelines.
  const nodeOfPort = new Map(processes.map(({ name, process }) => [process.port, name]));
  // Which live node a new connection, an ingest or a read goes to: a load balancer's choice.
  const spread = new Random(config.seed, 'nodes');
  const liveNode = (): ServerProcess => {
    const live = nodes.filter((_, i) => !down[i]);
    return spread.pick(live.length > 0 ? live : nodes);
  };
  const anyDown = () => down.some((d) => d);
  const serverDown = () => !cluster && anyDown();
  // Devices whose connections were on a node that is down now (every device on one server).
  const pinned = new Set<string>();
  /** Until then the truth cross-check pauses: a node is down, or a lost last update is being reconciled. */
  let truthBlindUntil = 0;
  log(
    `${cluster ? `cluster of ${nodes.length} nodes` : 'server'} ${nodes.map((n) => n.http).join(' ')}, APNs ${apns.address}; ` +
      `${plan.devices.length} devices, ${plan.accounts.length} accounts`,
  );

  const truth = await TruthWatchers.start(
    nodes[0] as ServerProcess,
    plan.accounts,
    SETUP_TIMEOUT_MS,
    (index) => (nodes[index % nodes.length] as ServerProcess).syncUrl,
  );
  cleanup.push(() => truth.close());

  const devices: SimDevice[] = [];
  const byToken = new Map<string, SimDevice>();
  const byPerson = new Map<number, SimDevice[]>();
  const trackers = new Map<string, DisagreementTracker>();
  const presence = new Map<string, PresenceHistory>();
  const candidates = new Map<string, readonly string[]>();
  let t0 = Number.POSITIVE_INFINITY;

  const recompute = (device: SimDevice, cause: string) => {
    const tracker = trackers.get(device.id);
    if (tracker === undefined) return;
    const at = Date.now();
    const accounts = device.shownAccounts;
    let expected = 0;
    for (const account of accounts) expected += truth.badge(account);
    const linkDown = !device.link.flowing;
    // A cluster run excuses a node's outage for background devices only (README "Cluster
    // mode"); foreground devices reconnect to a live node and are judged throughout.
    const outage = serverDown() || (cluster && anyDown() && !device.foreground);
    tracker.observe(
      {
        at,
        measured: device.foreground || device.apnsToken !== null,
        shown: device.shown,
        truth: expected,
        excused: outage || (device.foreground && linkDown),
        state:
          `${device.foreground ? 'fg' : 'bg'}${linkDown ? `/${device.link.mode}` : ''}` +
          `${serverDown() ? '/server-down' : ''}${cluster && anyDown() ? `/node-down${pinned.has(device.id) ? '-pinned' : ''}` : ''}`,
      },
      cause,
    );
    const history = presence.get(device.id) as PresenceHistory;
    for (const account of candidates.get(device.id) ?? []) {
      history.setMember(account, device.accounts.has(account), at);
      const live =
        device.foreground && device.status(account) === 'synced' && device.link.flowing && !pinned.has(device.id);
      history.setLive(account, live, at);
    }
  };
  const recomputeAll = (cause: string) => {
    for (const device of devices) recompute(device, cause);
  };

  for (const planned of plan.devices) {
    const link = await ChaosLink.open(
      cluster ? () => liveNode().port : (nodes[0] as ServerProcess).port,
      loopbackAddress(planned.index),
    );
    cleanup.push(() => link.close());
    const device: SimDevice = new SimDevice({
      id: planned.id,
      kind: planned.kind,
      apnsToken: planned.kind === 'ios' ? apnsToken(planned.id) : null,
      link,
      backend: liveNode,
      random: new Random(config.seed, `sdk:${planned.id}`),
      changed: (cause) => recompute(device, cause),
      failed: fail,
    });
    link.onMode(() => recompute(device, 'link'));
    devices.push(device);
    candidates.set(device.id, planned.candidates);
    if (device.apnsToken !== null) byToken.set(device.apnsToken, device);
    const family = byPerson.get(planned.person) ?? [];
    family.push(device);
    byPerson.set(planned.person, family);
  }
  cleanup.push(() => Promise.allSettled(devices.map((device) => device.close())));
  const accountPerson = new Map<string, number>();
  for (const d of plan.devices) for (const a of d.candidates) accountPerson.set(a, d.person);
  truth.onChange((account) => {
    for (const device of byPerson.get(accountPerson.get(account) ?? -1) ?? []) recompute(device, 'truth');
  });

  const pushes: PushRecord[] = [];
  const apnsAnswerMs: number[] = [];
  cleanup.push(
    apns.onAnswer((request: ApnsRequestRecord) => {
      const device = byToken.get(request.deviceToken);
      if (device === undefined || request.receivedAt < t0) return;
      const status = request.answer !== null && 'status' in request.answer ? request.answer.status : 'cancelled';
      const badge = badgeOf(request);
      apnsAnswerMs.push(Date.now() - request.receivedAt);
      const judged = (presence.get(device.id) as PresenceHistory).judge(
        request.receivedAt,
        TIMINGS.graceMs,
        CAUSE_LOOKBACK_MS,
      );
      pushes.push({ device: device.id, at: request.receivedAt - t0, badge, status, ...judged });
      if (status === 200 && badge !== undefined) {
        device.apnsShown = badge;
        recompute(device, 'apns');
      }
    }),
  );

  // Setup: every device in the foreground, signed in to its first accounts, synced.
  log('setting up devices');
  const queue = [...plan.devices];
  await Promise.all(
    Array.from({ length: SETUP_CONCURRENCY }, async () => {
      for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
        const device = devices[next.index] as SimDevice;
        await device.toForeground();
        for (const account of next.initial) await device.signIn(account);
      }
    }),
  );
  await until(
    () => devices.every((d) => [...d.accounts].every((a) => d.status(a) === 'synced')),
    setupDeadline - Date.now(),
    'every device synced',
    signal,
  );
  await until(
    () =>
      devices.every((d) => d.shown === d.shownAccounts.reduce((sum, a) => sum + truth.badge(a), 0)) &&
      apns.requests.every((r) => r.answer !== null),
    setupDeadline - Date.now(),
    'every device right before the start',
    signal,
  );
  for (const [what, { count, example }] of failures) log(`  setup: ${what} ×${count} (${example})`);
  failures.clear();

  // The chaos phase.
  t0 = Date.now();
  for (const device of devices) {
    trackers.set(device.id, new DisagreementTracker(device.id));
    presence.set(device.id, new PresenceHistory());
    recompute(device, 'start');
  }
  const monitors = new Monitors({
    server: liveNode,
    down: () => anyDown() || Date.now() < truthBlindUntil,
    truth,
    accounts: plan.accounts,
    t0,
  });
  cleanup.push(() => monitors.stop());
  const ops = new Set<Promise<void>>();
  const track = (what: string, work: () => Promise<void>) => {
    const op: Promise<void> = work()
      .catch((err: unknown) => fail(what, err))
      .finally(() => ops.delete(op));
    ops.add(op);
  };
  const ingest = { ok: 0, failed: 0 };
  const call = async (route: string, body: unknown) => {
    try {
      const answer = await api(liveNode(), 'POST', route, body);
      if (answer.status === 200) ingest.ok++;
      else ingest.failed++;
    } catch {
      ingest.failed++;
    }
  };
  const kills: Kill[] = [];
  const killRandom = new Random(config.seed, 'kill-node');
  const byId = new Map(devices.map((d) => [d.id, d]));

  const dispatch = (event: TimedEvent) => {
    switch (event.kind) {
      case 'foreground':
      case 'background': {
        const device = byId.get(event.device) as SimDevice;
        device.enqueue(event.kind, () => (event.kind === 'foreground' ? device.toForeground() : device.toBackground()));
        return;
      }
      case 'link': {
        const device = byId.get(event.device) as SimDevice;
        if (event.fault === 'cut') {
          device.link.cut();
          if (event.osNotices) device.network.set(false);
        } else if (event.fault === 'blackhole') device.link.blackhole();
        else device.link.stall();
        return;
      }
      case 'link-restore': {
        const device = byId.get(event.device) as SimDevice;
        device.link.restore();
        device.network.set(true);
        return;
      }
      case 'read':
      case 'unread': {
        const device = byId.get(event.device) as SimDevice;
        device.enqueue(event.kind, () => {
          const seq = Math.round(event.fraction * truth.head(event.account, event.thread));
          if (event.kind === 'read') device.read(event.account, event.thread, seq);
          else device.unread(event.account, event.thread, Math.max(1, seq));
        });
        return;
      }
      case 'read-all': {
        const device = byId.get(event.device) as SimDevice;
        device.enqueue('read-all', () => device.readAll(event.account));
        return;
      }
      case 'mute': {
        const device = byId.get(event.device) as SimDevice;
        device.enqueue('mute', () => device.mute(event.account, event.thread, event.on));
        return;
      }
      case 'sign-in':
      case 'sign-out': {
        const device = byId.get(event.device) as SimDevice;
        device.enqueue(event.kind, () =>
          event.kind === 'sign-in' ? device.signIn(event.account) : device.signOut(event.account),
        );
        return;
      }
      case 'items':
        track('items', () => call(`/v1/accounts/${event.account}/items`, { thread: event.thread, count: event.count }));
        return;
      case 'burst':
        track('burst', async () => {
          for (let i = 0; i < event.posts; i++)
            await call(`/v1/accounts/${event.account}/items`, { thread: event.thread });
        });
        return;
      case 'server-read':
        track('server-read', () =>
          call(`/v1/accounts/${event.account}/read`, {
            thread: event.thread,
            seq: Math.round(event.fraction * truth.head(event.account, event.thread)),
          }),
        );
        return;
      case 'apns':
        apns.setRule(event.phase === null ? null : apnsRule(event.phase));
        return;
      case 'kill':
        track('kill', async () => {
          // One node at a time: the plan's kills are slots apart, each restarted within its slot.
          const live = nodes.map((_, i) => i).filter((i) => !down[i]);
          const index = cluster ? killRandom.pick(live) : 0;
          const dead = nodes[index] as ServerProcess;
          const killedAt = Date.now();
          for (const device of devices) if (!cluster || device.link.holds(dead.port)) pinned.add(device.id);
          const pinnedCount = pinned.size;
          down[index] = true;
          if (cluster) truthBlindUntil = Number.POSITIVE_INFINITY;
          recomputeAll(cluster ? 'node-down' : 'server-down');
          await dead.kill();
          const name = cluster ? `chaos-n${index + 1}` : null;
          log(
            `  kill -9${name === null ? '' : ` of ${name} (${pinnedCount} devices on it)`} at ${((killedAt - t0) / 1000).toFixed(1)} s`,
          );
          // Watchers on the dead node move to live ones at once; devices' links pick live nodes.
          if (cluster) truth.retargetFrom(dead.syncUrl, () => liveNode().syncUrl);
          const next = await dead.restart();
          nodes[index] = next;
          processes.push({ name: `${name ?? 'server'} (restarted)`, process: next });
          nodeOfPort.set(next.port, name ?? 'server');
          if (!cluster) {
            truth.retarget(next.syncUrl);
            for (const device of devices) device.link.retarget(next.port);
          }
          down[index] = false;
          pinned.clear();
          recomputeAll(cluster ? 'node-up' : 'server-up');
          const upAt = Date.now();
          await truth.synced(SETUP_TIMEOUT_MS);
          truthBlindUntil = cluster ? Date.now() + CLUSTER_RECONCILE_MS : 0;
          const kill = {
            at: killedAt - t0,
            node: name,
            pinned: pinnedCount,
            downMs: upAt - killedAt,
            truthResyncMs: Date.now() - upAt,
          };
          kills.push(kill);
          log(`  restarted after ${kill.downMs} ms; every truth watcher synced ${kill.truthResyncMs} ms later`);
        });
        return;
    }
  };

  log(`chaos for ${config.durationMs / 1000} s (${plan.events.length} events)`);
  for (const event of plan.events) {
    const wait = t0 + event.at - Date.now();
    if (wait > 0) await sleep(wait);
    dispatch(event);
  }
  await sleep(Math.max(0, t0 + config.durationMs - Date.now()));

  // Heal and settle: networks back, APNs answering; apps stay where they are.
  log('healing; settling');
  apns.setRule(null);
  for (const device of devices) {
    device.link.restore();
    device.network.set(true);
  }
  const settleStart = Date.now();
  // A restart or a burst still running finishes first (bounded by the settle time).
  while (ops.size > 0 && Date.now() - settleStart < config.settleMs) await sleep(20);
  let rightSince: number | null = null;
  while (Date.now() - settleStart < config.settleMs) {
    const right = devices.every((d) => !(trackers.get(d.id) as DisagreementTracker).wrong);
    if (!right) rightSince = null;
    else if (rightSince === null) rightSince = Date.now();
    else if (Date.now() - rightSince >= SETTLED_FOR_MS) break;
    await sleep(20);
  }
  await Promise.allSettled([...ops, ...devices.map((d) => d.idle())]);
  const settleTookMs = Date.now() - settleStart;
  const watched = await monitors.stop();

  // The end state: the server's stored counts are the truth.
  const finalCounts = new Map<string, AccountCounts>();
  for (const account of plan.accounts) finalCounts.set(account, await getBadge(liveNode(), account));
  const endAt = Date.now();
  for (const device of devices) {
    recompute(device, 'end');
    (trackers.get(device.id) as DisagreementTracker).finish(endAt);
  }
  const end = checkEndState(devices, finalCounts, truth);
  return {
    config,
    plan,
    t0,
    measuredMs: endAt - t0,
    settleTookMs,
    intervals: devices.flatMap((d) => (trackers.get(d.id) as DisagreementTracker).intervals),
    stretches: devices.flatMap((d) => (trackers.get(d.id) as DisagreementTracker).stretches),
    pushes,
    ...end,
    failures,
    kills,
    ingest,
    ...watched,
    apnsAnswerMs,
    tokenDevices: devices.filter((d) => d.apnsToken !== null).map((d) => d.id),
    processes,
    tokens: new Map([...byToken].map(([token, device]) => [device.id, token])),
    connections: new Map(
      devices.map((d) => [
        d.id,
        d.link.connections.map((c) => ({
          node: nodeOfPort.get(c.port) ?? `port ${c.port}`,
          openedAt: c.openedAt,
          closedAt: c.closedAt,
        })),
      ]),
    ),
  };
}

function apnsRule(phase: ApnsPhase) {
  switch (phase.mode) {
    case 'too-many-requests':
      return () => ApnsAnswers.tooManyRequests;
    case 'unavailable':
      return () => ApnsAnswers.serviceUnavailable;
    case 'slow':
      return () => ApnsAnswers.slow(phase.delayMs);
  }
}

async function until(check: () => boolean, ms: number, what: string, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    signal?.throwIfAborted();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
