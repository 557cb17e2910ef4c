/**
 * What watches the watchers during a run: the machine (is the test process or the server
 * standing still?) and the truth (does each watcher agree with the stored counts?). Both
 * report; neither excuses anything.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { badge as getBadge } from '../helpers/api-client.js';
import type { TruthWatchers } from './truth.js';

/** A 20 ms timer late by more than 50 ms: the test process stood still. */
const STALL_TICK_MS = 20;
const PROCESS_STALL_MS = 50;
/** /healthz every 100 ms; slower than 100 ms: the server stood still. */
const SERVER_PROBE_MS = 100;
const SERVER_STALL_MS = 100;
/** One probe may hang this long before it counts as a stall of its length. */
const PROBE_TIMEOUT_MS = 10_000;
/** The truth cross-check: one account every 250 ms; a disagreement is checked again 300 ms later. */
const TRUTH_CHECK_EVERY_MS = 250;
const TRUTH_RECHECK_MS = 300;

export interface Stall {
  /** ms since the chaos start. */
  readonly at: number;
  readonly ms: number;
}

export interface MonitorResults {
  readonly eventLoopMs: { readonly p99: number; readonly max: number };
  readonly stalls: { readonly process: readonly Stall[]; readonly server: readonly Stall[] };
  /** Watchers that disagreed with GET /badge while neither moved, and still did 300 ms later. */
  readonly truthChecks: { readonly checked: number; readonly lagging: readonly string[] };
}

export interface MonitorTarget {
  /** The server as it is now (it changes on a restart). */
  readonly server: () => { readonly http: string; readonly apiKey: string };
  /** True from a kill until the restarted server listens: nothing is probed then. */
  readonly down: () => boolean;
  readonly truth: TruthWatchers;
  readonly accounts: readonly string[];
  /** Epoch ms of the chaos start. */
  readonly t0: number;
}

export class Monitors {
  readonly #target: MonitorTarget;
  readonly #loop = monitorEventLoopDelay({ resolution: 10 });
  readonly #stalls = { process: [] as Stall[], server: [] as Stall[] };
  readonly #truthChecks = { checked: 0, lagging: [] as string[] };
  readonly #ticker: NodeJS.Timeout;
  readonly #loops: Promise<void>;
  #running = true;
  #result: Promise<MonitorResults> | null = null;

  constructor(target: MonitorTarget) {
    this.#target = target;
    this.#loop.enable();
    let expected = Date.now() + STALL_TICK_MS;
    this.#ticker = setInterval(() => {
      const now = Date.now();
      if (now - expected > PROCESS_STALL_MS)
        this.#stalls.process.push({ at: expected - target.t0, ms: now - expected });
      expected = now + STALL_TICK_MS;
    }, STALL_TICK_MS);
    this.#loops = Promise.all([this.#probeServer(), this.#checkTruth()]).then(() => undefined);
  }

  /** Stops every monitor (idempotent) and answers what they saw. */
  stop(): Promise<MonitorResults> {
    this.#result ??= (async () => {
      this.#running = false;
      clearInterval(this.#ticker);
      this.#loop.disable();
      await this.#loops;
      return {
        eventLoopMs: { p99: this.#loop.percentile(99) / 1e6, max: this.#loop.max / 1e6 },
        stalls: this.#stalls,
        truthChecks: this.#truthChecks,
      };
    })();
    return this.#result;
  }

  async #probeServer(): Promise<void> {
    const { t0 } = this.#target;
    while (this.#running) {
      const started = Date.now();
      if (!this.#target.down()) {
        try {
          const res = await fetch(`${this.#target.server().http}/healthz`, {
            signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
          });
          await res.text();
          const ms = Date.now() - started;
          if (ms > SERVER_STALL_MS) this.#stalls.server.push({ at: started - t0, ms });
        } catch {
          // Down or restarting: the kill says so.
        }
      }
      await pause(SERVER_PROBE_MS);
    }
  }

  /**
   * The truth against the stored counts: a watcher that disagrees with GET /badge while
   * neither moves, and still does 300 ms later, would make every judgement of its account
   * unreliable. Round robin over the accounts.
   */
  async #checkTruth(): Promise<void> {
    const { truth, accounts, t0 } = this.#target;
    const disagrees = async (account: string) => {
      const wasDown = this.#target.down();
      const before = truth.badge(account);
      const stored = await getBadge(this.#target.server(), account).then(
        (answer) => answer.badge,
        () => null,
      );
      const after = truth.badge(account);
      if (wasDown || this.#target.down() || stored === null || before !== after || stored === after) return null;
      return { watcher: after, stored };
    };
    for (let i = 0; this.#running; i++) {
      await pause(TRUTH_CHECK_EVERY_MS);
      const account = accounts[i % accounts.length] as string;
      this.#truthChecks.checked++;
      if ((await disagrees(account)) === null) continue;
      await pause(TRUTH_RECHECK_MS);
      const again = await disagrees(account);
      if (again !== null) {
        this.#truthChecks.lagging.push(
          `${account} at ${((Date.now() - t0) / 1000).toFixed(1)} s: watcher ${again.watcher}, stored ${again.stored}`,
        );
      }
    }
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
