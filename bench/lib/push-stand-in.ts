/**
 * A test push service (the APNs, FCM or Web Push stand-in) in a process of its own, as
 * Apple's, Google's and the browsers' push services are on other machines. APNs and FCM run
 * through their command-line runners (test/helpers/*-test-server-main.ts), which print their
 * addresses as one JSON line on stdout and then one JSON line per answered request on stderr,
 * stamped when the request arrived. Web Push runs in servers/webpush-stand-in.ts, which also
 * makes subscriptions (over the IPC channel) and sends its arrivals as IPC messages.
 *
 * Every stand-in stamps with Date.now() and the benchmark stamps its sends with Date.now() too:
 * both read the one realtime clock of this machine's kernel at the moment of the event, so a
 * difference is exact but for the two stamps' truncation to whole milliseconds. Not
 * `performance.timeOrigin + performance.now()`: each process fixes its time origin from the
 * wall clock once, when it starts, and counts on its monotonic clock after, so two processes'
 * readings are apart by however far the wall clock moved against the monotonic clock between
 * their starts.
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import { waitForCondition } from '../../test/helpers/test-server-kit.js';
import { type Child, ROOT_DIR, spawnScript, waitForLine } from './children.js';
import { cpuSeconds } from './proc.js';

/** A stand-in starts in about a second (tsx compiling); 30 s leaves room for a busy machine. */
const START_TIMEOUT_MS = 30_000;

/** Where each stand-in runs: its script, and how it reports the requests it answered. */
const STAND_INS = {
  apns: { script: path.join(ROOT_DIR, 'test', 'helpers', 'apns-test-server-main.ts'), reports: 'stderr' },
  fcm: { script: path.join(ROOT_DIR, 'test', 'helpers', 'fcm-test-server-main.ts'), reports: 'stderr' },
  webpush: { script: 'servers/webpush-stand-in.ts', reports: 'ipc' },
} as const;

export type StandInKind = keyof typeof STAND_INS;

export interface PushStandIn<Info> {
  /** The ready line (addresses, key paths). */
  readonly info: Info;
  readonly child: Child;
  readonly pid: number;
  /** Requests the stand-in has received and answered so far. */
  requests(): number;
  /** CPU seconds (user + system) the stand-in has used so far. */
  cpuSeconds(): number;
  /** Resolves once `condition()` holds, checked after every request line. */
  waitFor(condition: () => boolean, timeoutMs: number, what: () => string): Promise<void>;
  /** SIGTERM: the stand-in closes its server and deletes its key and CA files. */
  close(): Promise<void>;
}

/**
 * Starts the stand-in and calls `onRequest` with each request it answered (the runner's stderr
 * line or the IPC message, parsed), in the order it answered them.
 */
export async function startPushStandIn<Info, Arrival>(
  kind: StandInKind,
  onRequest: (arrival: Arrival) => void,
): Promise<PushStandIn<Info>> {
  const { script, reports } = STAND_INS[kind];
  const child = spawnScript(script, { ipc: reports === 'ipc' });
  const waiters = new Set<() => void>();
  let requests = 0;
  const arrived = (arrival: Arrival) => {
    requests++;
    onRequest(arrival);
    for (const check of waiters) check();
  };
  if (reports === 'ipc') {
    child.process.on('message', (message: { type?: unknown }) => {
      // The channel also carries the answers to the parent's requests (bench/lib/ipc.ts).
      if (message.type === 'push') arrived(message as Arrival);
    });
  } else {
    const stderr = child.process.stderr;
    if (stderr === null) throw new Error(`${kind} stand-in: no stderr pipe`);
    createInterface({ input: stderr }).on('line', (text) => {
      // Anything but a request line (a warning from node or tsx) stays in child.stderr().
      if (text.startsWith('{')) arrived(JSON.parse(text) as Arrival);
    });
  }
  let info: Info;
  try {
    info = await waitForLine(child, (line) => JSON.parse(line) as Info, START_TIMEOUT_MS);
  } catch (err) {
    await child.kill();
    throw err;
  }
  return {
    info,
    child,
    pid: child.pid,
    requests: () => requests,
    cpuSeconds: () => cpuSeconds(child.pid),
    waitFor: (condition, timeoutMs, what) => waitForCondition(waiters, `${kind} stand-in`, condition, timeoutMs, what),
    close: () => child.stop(),
  };
}
