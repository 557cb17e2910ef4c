/**
 * The seeded plan of a run: who exists (people, their accounts, their devices) and every
 * fault and action at its time. The plan is a pure function of the config (and its seed):
 * what depends on the run itself (a head to read up to, whether a call got through) is
 * decided when the event plays, from fractions drawn here.
 */
import { type ApnsPhase, type ChaosConfig, TIMINGS } from './config.js';
import { Random } from './random.js';

export type DeviceKind = 'ios' | 'web';

export interface PlannedDevice {
  readonly id: string;
  readonly index: number;
  readonly person: number;
  readonly kind: DeviceKind;
  /** Accounts of its person it may sign in to. */
  readonly candidates: readonly string[];
  /** Signed in at the start. */
  readonly initial: readonly string[];
}

export type LinkFault = 'cut' | 'blackhole' | 'stall';

export type PlannedEvent =
  | { readonly kind: 'foreground' | 'background'; readonly device: string }
  | { readonly kind: 'link'; readonly device: string; readonly fault: LinkFault; readonly osNotices: boolean }
  | { readonly kind: 'link-restore'; readonly device: string }
  | {
      readonly kind: 'read' | 'unread';
      readonly device: string;
      readonly account: string;
      readonly thread: string;
      /** Of the head the device knows when it plays. */
      readonly fraction: number;
    }
  | { readonly kind: 'read-all'; readonly device: string; readonly account: string }
  | {
      readonly kind: 'mute';
      readonly device: string;
      readonly account: string;
      readonly thread: string;
      readonly on: boolean;
    }
  | { readonly kind: 'sign-in' | 'sign-out'; readonly device: string; readonly account: string }
  | { readonly kind: 'items'; readonly account: string; readonly thread: string; readonly count: number }
  | { readonly kind: 'burst'; readonly account: string; readonly thread: string; readonly posts: number }
  | { readonly kind: 'server-read'; readonly account: string; readonly thread: string; readonly fraction: number }
  | { readonly kind: 'apns'; readonly phase: ApnsPhase | null }
  | { readonly kind: 'kill' };

export type TimedEvent = PlannedEvent & { readonly at: number };

export interface Plan {
  readonly accounts: readonly string[];
  readonly devices: readonly PlannedDevice[];
  readonly events: readonly TimedEvent[];
  readonly apnsPhases: readonly ApnsPhase[];
  readonly kills: readonly number[];
}

/** Sign-in/out stays this far from a kill: the restart takes a second or two. */
const KILL_QUIET_BEFORE_MS = 1_000;
const KILL_QUIET_AFTER_MS = 6_000;
/**
 * A device signs in again at least 1.5 s after it signed out of that account: tokens issued in
 * the second of a sign-out are revoked (SPEC AUTH-8, second precision).
 */
const RESIGN_GAP_MS = 1_500;
/** Sign-in/out needs the device's network for this long (its HTTP call goes through it). */
const SIGN_NEEDS_LINK_MS = 1_500;
/** Faults of one link are at least this far apart: a restore is seen before the next fault. */
const LINK_GAP_MS = 200;

export function buildPlan(config: ChaosConfig): Plan {
  const { seed } = config;
  const people = new Random(seed, 'people');
  const accounts: string[] = [];
  const devices: PlannedDevice[] = [];
  for (let p = 0; p < config.persons; p++) {
    const own = [`p${p}`];
    if (people.chance(config.secondAccountChance)) own.push(`p${p}-work`);
    accounts.push(...own);
    const count = people.int(config.devicesPerPerson[0], config.devicesPerPerson[1]);
    for (let j = 0; j < count; j++) {
      const kind: DeviceKind = people.chance(config.tokenChance) ? 'ios' : 'web';
      const index = devices.length;
      devices.push({
        id: `p${p}-${kind}${j}`,
        index,
        person: p,
        kind,
        candidates: own,
        initial: people.subset(own, 0.7),
      });
    }
  }

  const events: TimedEvent[] = [];
  const duration = config.durationMs;

  const kills: number[] = [];
  const killRandom = new Random(seed, 'kills');
  for (let k = 0; k < config.kills; k++) {
    const slot = duration / config.kills;
    kills.push(Math.round(slot * k + slot * killRandom.uniform(0.35, 0.6)));
  }
  for (const at of kills) events.push({ at, kind: 'kill' });
  const nearKill = (at: number) => kills.some((k) => at > k - KILL_QUIET_BEFORE_MS && at < k + KILL_QUIET_AFTER_MS);

  const apnsPhases = planApnsPhases(config, new Random(seed, 'apns'));
  for (const phase of apnsPhases) {
    events.push({ at: phase.startMs, kind: 'apns', phase });
    events.push({ at: phase.endMs, kind: 'apns', phase: null });
  }

  for (const device of devices) planDevice(config, device, events, nearKill);

  for (const account of accounts) {
    const random = new Random(seed, `account:${account}`);
    const { rates, threads } = config;
    for (let at = random.exponentialMs(rates.items); at < duration; at += random.exponentialMs(rates.items)) {
      const count = random.chance(0.7) ? 1 : random.int(2, 5);
      events.push({ at, kind: 'items', account, thread: random.pick(threads), count });
    }
    for (let at = random.exponentialMs(rates.burst); at < duration; at += random.exponentialMs(rates.burst)) {
      const thread = random.pick(threads);
      if (random.chance(0.5)) events.push({ at, kind: 'burst', account, thread, posts: random.int(5, 15) });
      else events.push({ at, kind: 'items', account, thread, count: random.int(10, 40) });
    }
    for (let at = random.exponentialMs(rates.serverRead); at < duration; at += random.exponentialMs(rates.serverRead)) {
      events.push({ at, kind: 'server-read', account, thread: random.pick(threads), fraction: random.next() });
    }
  }

  events.sort((a, b) => a.at - b.at);
  return { accounts, devices, events, apnsPhases, kills };
}

/** Non-overlapping APNs phases in the first three quarters of the run, kinds in turn. */
function planApnsPhases(config: ChaosConfig, random: Random): ApnsPhase[] {
  const phases: ApnsPhase[] = [];
  const modes: ApnsPhase['mode'][] = ['too-many-requests', 'unavailable', 'slow'];
  const from = config.durationMs * 0.1;
  const to = config.durationMs * 0.75;
  const slot = (to - from) / Math.max(1, config.apnsPhases);
  for (let i = 0; i < config.apnsPhases; i++) {
    const mode = modes[i % modes.length] as ApnsPhase['mode'];
    const length = mode === 'slow' ? random.uniform(2_000, 5_000) : random.uniform(1_000, 2_500);
    const start = from + slot * i + random.uniform(0, Math.max(0, slot - length));
    phases.push({
      mode,
      startMs: Math.round(start),
      endMs: Math.round(start + Math.min(length, slot)),
      delayMs: mode === 'slow' ? Math.round(random.uniform(80, 250)) : 0,
    });
  }
  return phases;
}

function planDevice(
  config: ChaosConfig,
  device: PlannedDevice,
  events: TimedEvent[],
  nearKill: (at: number) => boolean,
): void {
  const random = new Random(config.seed, `device:${device.id}`);
  const { rates, threads } = config;
  const duration = config.durationMs;
  const id = device.id;

  // The app's life: foreground and background in turn, starting in the foreground.
  const foregrounds: Array<[number, number]> = [];
  for (let at = 0, foreground = true; at < duration; foreground = !foreground) {
    const end = Math.min(duration, at + random.uniform(...(foreground ? rates.foregroundMs : rates.backgroundMs)));
    if (foreground) foregrounds.push([at, end]);
    if (end < duration) events.push({ at: end, kind: foreground ? 'background' : 'foreground', device: id });
    at = end;
  }

  // The network. First the lift: some backgroundings happen just after the link went silent
  // (the phone is locked on the way into a lift), which only heartbeats can tell the server.
  // Then faults at random in the gaps, never overlapping.
  const linkDown: Array<[number, number]> = [];
  const fault = (at: number, kind: LinkFault, end: number) => {
    events.push({ at, kind: 'link', device: id, fault: kind, osNotices: kind === 'cut' && random.chance(0.5) });
    if (end < duration) events.push({ at: end, kind: 'link-restore', device: id });
    linkDown.push([at, end]);
  };
  const free = (from: number, to: number) => linkDown.every(([a, b]) => b + LINK_GAP_MS < from || a > to + LINK_GAP_MS);
  for (const [, backgrounded] of foregrounds) {
    if (backgrounded >= duration || !random.chance(rates.liftChance)) continue;
    const at = backgrounded - random.uniform(0, TIMINGS.heartbeatMs * 2);
    const end = backgrounded + random.uniform(...rates.blackholeMs);
    if (at > 0 && free(at, end)) fault(at, 'blackhole', end);
  }
  for (let at = random.exponentialMs(rates.linkFault); at < duration; at += random.exponentialMs(rates.linkFault)) {
    const kind: LinkFault = random.pick(['cut', 'cut', 'blackhole', 'blackhole', 'stall']);
    const range = kind === 'cut' ? rates.cutMs : kind === 'blackhole' ? rates.blackholeMs : rates.stallMs;
    const end = at + random.uniform(range[0], range[1]);
    if (free(at, end)) fault(at, kind, end);
  }
  const linkUpThrough = (from: number, to: number) => linkDown.every(([a, b]) => b < from || a > to);

  // What the user does, in the foreground only.
  const signedIn = new Set(device.initial);
  const signedOutAt = new Map<string, number>();
  const total = rates.read + rates.mute + rates.signToggle;
  for (const [from, to] of foregrounds) {
    for (let t = from + random.exponentialMs(total); t < to; t += random.exponentialMs(total)) {
      const roll = random.next() * total;
      if (roll < rates.read) {
        if (signedIn.size === 0) continue;
        const account = random.pick([...signedIn]);
        const kind = random.next();
        if (kind < 0.1) events.push({ at: t, kind: 'read-all', device: id, account });
        else if (kind < 0.15) {
          events.push({
            at: t,
            kind: 'unread',
            device: id,
            account,
            thread: random.pick(threads),
            fraction: random.next(),
          });
        } else {
          events.push({
            at: t,
            kind: 'read',
            device: id,
            account,
            thread: random.pick(threads),
            fraction: random.next(),
          });
        }
      } else if (roll < rates.read + rates.mute) {
        if (signedIn.size === 0) continue;
        events.push({
          at: t,
          kind: 'mute',
          device: id,
          account: random.pick([...signedIn]),
          thread: random.pick(threads),
          on: random.chance(0.5),
        });
      } else {
        if (nearKill(t) || !linkUpThrough(t, t + SIGN_NEEDS_LINK_MS) || t + SIGN_NEEDS_LINK_MS > to) continue;
        const out = device.candidates.filter(
          (a) => !signedIn.has(a) && t - (signedOutAt.get(a) ?? Number.NEGATIVE_INFINITY) > RESIGN_GAP_MS,
        );
        if (out.length > 0 && (signedIn.size === 0 || random.chance(0.6))) {
          const account = random.pick(out);
          signedIn.add(account);
          events.push({ at: t, kind: 'sign-in', device: id, account });
        } else if (signedIn.size > 1 || (signedIn.size === 1 && random.chance(0.3))) {
          // Signed out of everything now and then: a device whose badge is 0 by definition.
          const account = random.pick([...signedIn]);
          signedIn.delete(account);
          signedOutAt.set(account, t);
          events.push({ at: t, kind: 'sign-out', device: id, account });
        }
      }
    }
  }
}
