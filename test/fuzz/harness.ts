/**
 * The fuzzer against the real server process: runs mutated corpus inputs one at a time,
 * judges each with the oracle, records every failure once per distinct signature (with the
 * input that first showed it), and restarts the server when an input killed or froze it, so
 * one crash does not end the run.
 *
 * The oracle, per input: the process is alive (same PID); every HTTP answer is below 500; a
 * sync connection ends in a pong or a contract close code; nothing hangs past the limit;
 * the server logged no error. Every few inputs: `/healthz` answers 200, the bystander of
 * another account still receives its updates and its badge is right, and (sync) the fuzzed
 * account's badge still loads.
 */
import net from 'node:net';
import fc from 'fast-check';
import { api, deviceToken } from '../helpers/api-client.js';
import { type ServerProcess, startServer } from '../helpers/server-process.js';
import { auditDocument } from './audit.js';
import { Bystander } from './bystander.js';
import { type Credentials, type HttpSeed, materialize, type SyncSeed } from './corpus.js';
import { type HttpOutcome, sendHttp } from './http-target.js';
import { httpMutation, mutate, mutateFrames, type SyncPlan, syncPlan } from './mutate.js';
import { type SyncOutcome, sendSync } from './sync-target.js';

/** Close codes the contract allows (docs/ERRORS.md); 1000 is the client's own hang-up. */
const ALLOWED_CLOSES: ReadonlySet<number> = new Set([1000, 1001, 1013, 4400, 4401, 4403, 4410, 4413]);
/**
 * One input's answer time. Honest answers take milliseconds; 5 s on a shared, busy machine
 * is far beyond that and still short enough that a hung process (an update whose apply
 * never returns allocates ~100 MB/s) is killed before it hurts the machine.
 */
const ANSWER_MS = 5_000;
/** How long the server's log line about a failing answer may trail the answer. */
const LOG_WAIT_MS = 200;
/** How long a process that refused a health check may take to exit (print its stack, die). */
const EXIT_MS = 2_000;
/** How long /healthz may take when the server is suspected of hanging. */
const HEALTH_MS = 3_000;
/** Oracle rounds (health, bystander) every so many inputs. */
const CHECK_EVERY = 25;
/** A fresh fuzzed account every so many sync inputs: its document and client IDs start over. */
const ACCOUNT_EVERY = 200;
/** Inputs kept because they showed a new outcome, at most (memory stays small). */
const MAX_POOL = 2_000;
/**
 * The server's memory cap: an update that makes Yjs allocate without end fails in seconds
 * instead of taking the shared machine's memory.
 */
const SERVER_NODE_OPTIONS = '--max-old-space-size=512';
const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
/** The heads each fuzzed account gets before its first input: the threads the corpus reads. */
const PREPARED_HEADS: Readonly<Record<string, number>> = { inbox: 100, news: 100 };

export type TargetName = 'http' | 'sync';

/** Thrown by the property once the budget is spent: ends fast-check's run without shrinking. */
class BudgetSpent extends Error {}

export interface FailureRecord {
  readonly signature: string;
  readonly target: TargetName | 'oracle';
  /** How many inputs showed it. */
  count: number;
  /** The first input that showed it: HTTP bytes, or the frames and the device that sent them. */
  readonly input: {
    readonly bytes?: string;
    readonly device?: string;
    readonly frames?: readonly string[];
    /** Sync: the inputs the fuzzed account had before this one (a failure may need them). */
    readonly history?: ReadonlyArray<{ readonly device: string; readonly frames: readonly string[] }>;
  };
  readonly detail: string;
  readonly seed: number;
  readonly exec: number;
}

export interface TargetStats {
  execs: number;
  ms: number;
  /** Inputs after which the process was gone (exit or kill). */
  crashes: number;
}

/** Starts the server under test; a fake one for the oracle's own test. */
export type Launch = (dir?: string) => Promise<ServerProcess>;

export const launchReal: Launch = (dir) =>
  startServer({
    ...(dir === undefined ? {} : { dir }),
    env: { NODE_OPTIONS: SERVER_NODE_OPTIONS },
  });

export interface FuzzerOptions {
  readonly launch?: Launch;
  readonly httpCorpus: readonly HttpSeed[];
  readonly syncCorpus: readonly SyncSeed[];
  /** Keep a bystander device of another account (needs the real server). */
  readonly bystander?: boolean;
  readonly print?: (line: string) => void;
}

interface SyncInput {
  readonly device: string;
  readonly frames: readonly Uint8Array[];
}

export class Fuzzer {
  server!: ServerProcess;
  readonly failures = new Map<string, FailureRecord>();
  readonly stats: Record<TargetName, TargetStats> = {
    http: { execs: 0, ms: 0, crashes: 0 },
    sync: { execs: 0, ms: 0, crashes: 0 },
  };
  restarts = 0;
  readonly #launch: Launch;
  readonly #bystander: Bystander | null;
  readonly #print: (line: string) => void;
  readonly #httpPool: Uint8Array[];
  readonly #syncPool: SyncInput[];
  /** How often each outcome (status and error code, close code and reason) was seen. */
  readonly outcomes = new Map<string, number>();
  readonly #tokens = new Map<string, Promise<string | null>>();
  /** Fuzzed accounts that have their threads' heads. */
  readonly #prepared = new Set<string>();
  /** Per fuzzed account, the markers the last audit saw (they must never go down or vanish). */
  readonly #markers = new Map<string, Map<string, number>>();
  /** The sync input before the current one: an audit failure may be its doing. */
  #previous: SyncInput | null = null;
  /** The inputs the current fuzzed account has had, in order. */
  #history: { account: string; inputs: SyncInput[] } = { account: '', inputs: [] };
  /** While replaying, the account does not change under the replayed inputs. */
  #pinned = false;
  #address = 0;
  /** Whether 127.0.0.2… can be bound (all of 127/8 is loopback on Linux, not on macOS). */
  #spreadAddresses = true;
  #seed = 0;
  #accountGeneration = 0;
  #logMark = 0;

  constructor(options: FuzzerOptions) {
    this.#launch = options.launch ?? launchReal;
    this.#bystander = options.bystander === false ? null : new Bystander();
    this.#print = options.print ?? (() => {});
    this.#httpPool = options.httpCorpus.map((seed) => seed.bytes);
    this.#syncPool = options.syncCorpus.map((seed) => ({ device: seed.device, frames: seed.frames }));
  }

  async start(): Promise<void> {
    this.server = await this.#launch();
    this.#spreadAddresses = await canBind('127.0.0.2', this.server.port);
    if (!this.#spreadAddresses) {
      this.#print('127.0.0.2 cannot be bound here: every input comes from 127.0.0.1 (the pre-auth limit applies)');
    }
    await this.#bystander?.connect(this.server);
  }

  async stop(): Promise<void> {
    this.#bystander?.close();
    if (this.server.child.exitCode === null && this.server.child.signalCode === null) await this.server.kill();
  }

  /** Distinct failures, most frequent first. */
  get distinct(): FailureRecord[] {
    return [...this.failures.values()].sort((a, b) => b.count - a.count);
  }

  /** Fuzzes HTTP for `budgetMs` from `seed` (fast-check draws the mutations). */
  async fuzzHttp(seed: number, budgetMs: number): Promise<void> {
    const input = fc.record({ base: fc.nat(), mutations: fc.array(httpMutation, { minLength: 1, maxLength: 5 }) });
    await this.#drive('http', seed, budgetMs, input, async ({ base, mutations }) => {
      const original = this.#httpPool[base % this.#httpPool.length] as Uint8Array;
      const bytes = mutate(original, mutations, this.#httpPool, 'http');
      await this.runHttp(bytes, true);
    });
  }

  /** Fuzzes sync frames on authenticated sockets for `budgetMs` from `seed`. */
  async fuzzSync(seed: number, budgetMs: number): Promise<void> {
    const input = fc.record({ base: fc.nat(), plan: syncPlan });
    await this.#drive('sync', seed, budgetMs, input, async ({ base, plan }: { base: number; plan: SyncPlan }) => {
      const original = this.#syncPool[base % this.#syncPool.length] as SyncInput;
      const donors = this.#syncPool.flatMap((entry) => entry.frames);
      const frames = mutateFrames(original.frames, plan, donors.length > 400 ? donors.slice(0, 400) : donors);
      // Honest frames do not hang the server: a hang is blamed on the mutated frame's kind.
      const count = original.frames.length;
      const mutated = frames[plan.frame % 2 === 0 ? count - 1 : Math.floor(plan.frame / 2) % Math.max(1, count)];
      await this.runSync(
        { device: original.device, frames },
        true,
        mutated === undefined ? 'unknown' : frameKind(mutated),
      );
    });
  }

  async #drive<T>(
    target: TargetName,
    seed: number,
    budgetMs: number,
    arbitrary: fc.Arbitrary<T>,
    run: (value: T) => Promise<void>,
  ): Promise<void> {
    this.#seed = seed;
    // The budget is checked between inputs, never by interrupting one: fast-check's own time
    // limit abandons a running async property, which would then race the next slice.
    const deadline = Date.now() + budgetMs;
    const details = await fc.check(
      // Unbiased: fast-check leans towards small numbers, which here would mean the first
      // corpus entries and the first bytes of every input.
      fc.asyncProperty(fc.noBias(arbitrary), async (value) => {
        if (Date.now() >= deadline) throw new BudgetSpent();
        try {
          await run(value);
        } catch (err) {
          // A fault of the harness itself, not of the server: shown, never shrunk.
          this.#print(`harness error (${target}): ${(err as Error).stack ?? String(err)}`);
        }
        return true;
      }),
      { seed, numRuns: Number.MAX_SAFE_INTEGER, endOnFailure: true },
    );
    if (details.failed && !(details.errorInstance instanceof BudgetSpent)) throw details.errorInstance;
  }

  /** Sends one HTTP input and judges it; `grow`: keep it if its outcome is new. */
  async runHttp(bytes: Uint8Array, grow = false): Promise<void> {
    const started = Date.now();
    this.#forgetLogs();
    const pid = this.server.child.pid;
    const request = await materialize(bytes, this.#credentials());
    const outcome = await sendHttp(this.server.port, request, this.#nextAddress(), ANSWER_MS);
    const exec = ++this.stats.http.execs;
    const unanswered = outcome.statuses.length === 0;
    const problem = await this.#judge('http', outcome.timedOut, unanswered, pid, 'request', () => httpProblem(outcome));
    this.stats.http.ms += Date.now() - started;
    if (problem !== null) this.#record('http', problem, { bytes: Buffer.from(bytes).toString('base64') }, exec);
    else if (grow) this.#grow(`http ${outcomeKey(outcome)}`, () => this.#httpPool.push(bytes));
    if (exec % CHECK_EVERY === 0) await this.#rounds('http', exec, null);
  }

  /** Sends one sync input (a connection's frames) and judges it. */
  async runSync(input: SyncInput, grow = false, suspect = 'unknown'): Promise<void> {
    const started = Date.now();
    this.#forgetLogs();
    const pid = this.server.child.pid;
    const account = `fz${this.#accountGeneration}`;
    if (!this.#prepared.has(account)) await this.#prepare(account);
    const token = await this.#token(account, ID.test(input.device) ? input.device : 'fuzz');
    const url = `${this.server.syncUrl}/${account}?token=${token ?? ''}`;
    const outcome = await sendSync(url, input.frames, this.#nextAddress(), ANSWER_MS);
    const exec = ++this.stats.sync.execs;
    const abrupt = outcome.kind === 'closed' && outcome.code === 1006;
    const timedOut = outcome.kind === 'timeout';
    const problem = await this.#judge('sync', timedOut, abrupt, pid, `${suspect} frame`, () => syncProblem(outcome));
    this.stats.sync.ms += Date.now() - started;
    if (this.#history.account !== account) this.#history = { account, inputs: [] };
    const record = {
      ...encodeInput(input),
      history: this.#history.inputs.map(encodeInput),
    };
    this.#history.inputs.push(input);
    const breach = problem === null && outcome.kind === 'answered' ? this.#audit(account, outcome.state) : null;
    if (problem !== null) this.#record('sync', problem, record, exec);
    else if (breach !== null) this.#record('sync', breach, record, exec);
    else if (grow) this.#grow(`sync ${syncKey(outcome)}`, () => this.#syncPool.push(input));
    this.#previous = input;
    if (exec % CHECK_EVERY === 0) await this.#rounds('sync', exec, account);
    if (exec % ACCOUNT_EVERY === 0 && !this.#pinned) this.#accountGeneration++;
  }

  /**
   * Runs a recorded failing input again, on a fresh fuzzed account; true when it showed no
   * failure this time (it is fixed), false when it did, null when the record holds no input.
   */
  async replay(input: FailureRecord['input']): Promise<boolean | null> {
    const seen = await this.replaySignatures(input);
    return seen === null ? null : seen.length === 0;
  }

  /** Replays `input` and answers the signatures it showed (null: the record holds no input). */
  async replaySignatures(input: FailureRecord['input']): Promise<string[] | null> {
    const counts = new Map([...this.failures].map(([signature, f]) => [signature, f.count]));
    this.#accountGeneration++;
    if (input.bytes !== undefined) await this.runHttp(Buffer.from(input.bytes, 'base64'));
    else if (input.frames !== undefined) {
      this.#pinned = true;
      try {
        for (const earlier of [...(input.history ?? []), input]) await this.runSync(decodeInput(earlier));
      } finally {
        this.#pinned = false;
      }
    } else return null;
    await this.#rounds(
      input.bytes === undefined ? 'sync' : 'http',
      0,
      input.bytes === undefined ? `fz${this.#accountGeneration}` : null,
    );
    return [...this.failures]
      .filter(([signature, f]) => f.count > (counts.get(signature) ?? 0))
      .map(([signature]) => signature);
  }

  /**
   * The per-input oracle. Returns the failure's signature and detail, or null. A dead or
   * frozen process is replaced before this returns.
   */
  async #judge(
    target: TargetName,
    timedOut: boolean,
    unanswered: boolean,
    pid: number | undefined,
    /** What probably caused a hang or an out-of-memory death (no stack names it). */
    suspect: string,
    answerProblem: () => string | null,
  ): Promise<{ signature: string; detail: string } | null> {
    // A socket cut without an answer may be a process dying: its exit event can trail the
    // cut, and this input, not the next, must be blamed. A refused health check tells.
    if (unanswered && !timedOut && this.#alive(pid) && !(await this.#healthy())) await this.#exited(EXIT_MS);
    if (!this.#alive(pid)) {
      // Let the dying process's stderr arrive.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const named = firstErrorLine(this.server.stderr) ?? this.#errorLog();
      const line =
        named === null || named.startsWith('FATAL')
          ? `${named ?? `exit ${this.server.child.exitCode}`} after a ${suspect}`
          : named;
      this.stats[target].crashes++;
      await this.#replace(target, false);
      return { signature: `${target} crash: ${line}`, detail: this.server.stderr.slice(0, 2000) };
    }
    if (timedOut) {
      const healthy = await this.#healthy();
      if (!healthy) {
        this.stats[target].crashes++;
        await this.#replace(target, true);
        return { signature: `${target} hang: the process stopped answering after a ${suspect}`, detail: '' };
      }
      return { signature: `${target}: no answer within ${ANSWER_MS} ms`, detail: 'the server is healthy' };
    }
    // The server's log lines come through a pipe, and may trail its answer by a moment.
    await new Promise((resolve) => setTimeout(resolve, 1));
    const problem = answerProblem();
    // A failing answer's log line names its cause: give it time to arrive, so one fault
    // keeps one signature.
    if (problem !== null) await new Promise((resolve) => setTimeout(resolve, LOG_WAIT_MS));
    const error = this.#errorLog();
    if (problem !== null) return { signature: error === null ? problem : `${problem} (${error})`, detail: problem };
    if (error !== null) return { signature: `${target} error log: ${error}`, detail: error };
    return null;
  }

  /** Health, bystander and (sync) the fuzzed account's badge. */
  async #rounds(target: TargetName, exec: number, account: string | null): Promise<void> {
    const pid = this.server.child.pid;
    const healthy = await this.#healthy();
    if (!healthy) {
      const crashed = !this.#alive(pid);
      this.#record(target, { signature: 'oracle: /healthz did not answer 200', detail: '' }, {}, exec);
      await this.#replace(target, !crashed);
      return;
    }
    if (account !== null) {
      const answer = await api(this.server, 'GET', `/v1/accounts/${account}/badge`);
      if (answer.status !== 200) {
        this.#record(
          target,
          {
            signature: `oracle: the fuzzed account's badge answered ${answer.status}`,
            detail: JSON.stringify(answer.body),
          },
          {},
          exec,
        );
      }
    }
    if (this.#bystander !== null) {
      const wrong = await this.#bystander.check(this.server).catch((err: Error) => `bystander: ${err.message}`);
      if (wrong !== null) {
        this.#record(target, { signature: wrong, detail: '' }, {}, exec);
        await this.#bystander.connect(this.server).catch(() => {});
      }
    }
  }

  /**
   * The authority oracle on the document the server sent after an input (audit.ts). The
   * breach may come from the input before (its socket was closed before a step 2 showed
   * it), so that input is kept in the detail.
   */
  #audit(account: string, state: Uint8Array | null): { signature: string; detail: string } | null {
    if (state === null) return { signature: 'sync: no sync step 2 answered the probe', detail: '' };
    const markers = this.#markers.get(account) ?? new Map<string, number>();
    this.#markers.set(account, markers);
    const finding = auditDocument(state, PREPARED_HEADS, markers);
    if (finding === null) return null;
    const previous = this.#previous;
    const before =
      previous === null
        ? ''
        : ` (input before: ${previous.device} ${previous.frames.map((f) => Buffer.from(f).toString('base64')).join(',')})`;
    // Start the account over: one breach would otherwise fail every later audit.
    this.#accountGeneration++;
    return { signature: `sync authority: ${finding.kind}`, detail: `${finding.detail}${before}` };
  }

  /**
   * Gives a fuzzed account the threads the corpus reads (100 items each), so the recorded
   * markers are within the heads and honest frames stay honest.
   */
  async #prepare(account: string): Promise<void> {
    for (const [thread, count] of Object.entries(PREPARED_HEADS)) {
      const answer = await api(this.server, 'POST', `/v1/accounts/${account}/items`, { thread, count });
      if (answer.status !== 200) throw new Error(`preparing ${account} answered ${answer.status}`);
    }
    this.#prepared.add(account);
  }

  /** Replaces a dead (or, with `kill`, frozen) server by a restart on the same folder. */
  async #replace(target: TargetName, kill: boolean): Promise<void> {
    if (kill) await this.server.kill();
    this.restarts++;
    const before = this.server;
    try {
      this.server = await this.#launch(before.dir);
    } catch (err) {
      const line = firstErrorLine((err as Error).message) ?? (err as Error).message.split('\n')[0] ?? '';
      this.#record(target, { signature: `oracle: restart failed: ${line}`, detail: (err as Error).message }, {}, 0);
      this.server = await this.#launch();
      // A fresh folder: no account has its heads or markers any more.
      this.#prepared.clear();
    }
    // Updates applied but not yet on disk when the process was killed may be gone: markers
    // are compared from here on, not across the restart.
    this.#markers.clear();
    this.#tokens.clear();
    if (this.#bystander !== null) await this.#bystander.connect(this.server);
  }

  /** Resolves when the server process has exited, or after `ms`. */
  async #exited(ms: number): Promise<void> {
    const child = this.server.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #alive(pid: number | undefined): boolean {
    const child = this.server.child;
    return child.pid === pid && child.exitCode === null && child.signalCode === null;
  }

  async #healthy(): Promise<boolean> {
    try {
      const res = await fetch(`${this.server.http}/healthz`, { signal: AbortSignal.timeout(HEALTH_MS) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * Drops the log lines of earlier inputs (judged already): a long run would otherwise keep
   * every connection's lines in memory.
   */
  #forgetLogs(): void {
    this.server.logs.splice(0);
    this.#logMark = 0;
  }

  /** The first error-level line the server logged during this input, or null. */
  #errorLog(): string | null {
    for (const entry of this.server.logs.slice(this.#logMark)) {
      if (typeof entry.level === 'number' && entry.level >= 50) {
        const err = entry.err as { type?: string; message?: string } | undefined;
        return `${String(entry.msg)}${err ? `: ${err.type ?? 'Error'}: ${err.message ?? ''}` : ''}`;
      }
    }
    return null;
  }

  #record(
    target: TargetName,
    problem: { signature: string; detail: string },
    input: FailureRecord['input'],
    exec: number,
  ): void {
    let signature = normalize(problem.signature);
    // A log line that trailed an earlier failing answer lands on the next input: count it
    // with the failure that already names it, not as a new one.
    const logged = /^\w+ error log: (.*)$/.exec(signature)?.[1];
    if (logged !== undefined) {
      signature = [...this.failures.keys()].find((known) => known.includes(`(${logged})`)) ?? signature;
    }
    const known = this.failures.get(signature);
    if (known !== undefined) {
      known.count++;
      return;
    }
    this.failures.set(signature, {
      signature,
      target,
      count: 1,
      input,
      detail: problem.detail,
      seed: this.#seed,
      exec,
    });
    this.#print(`new failure [${target} #${exec}]: ${signature}`);
  }

  #grow(key: string, keep: () => void): void {
    // Numbers and quoted names vary within one outcome ("unknown message type 349").
    const normalized = key
      .replace(/\d[\d.]*(e[+-]?\d+)?/gi, 'N')
      .replace(/"[^"]*"/g, '"…"')
      .slice(0, 120);
    const seen = this.outcomes.get(normalized) ?? 0;
    this.outcomes.set(normalized, seen + 1);
    if (seen > 0) return;
    if (this.#httpPool.length + this.#syncPool.length < MAX_POOL) keep();
  }

  /**
   * Client addresses 127.0.0.2–127.0.0.254 in turn: the server limits upgrades per address
   * before authentication, and the fuzzer (not the limit) is what is being run here. The
   * bystander and the health checks keep 127.0.0.1.
   */
  #nextAddress(): string {
    if (!this.#spreadAddresses) return '127.0.0.1';
    this.#address = (this.#address + 1) % 253;
    return `127.0.0.${this.#address + 2}`;
  }

  #credentials(): Credentials {
    return { apiKey: this.server.apiKey, token: (account, device) => this.#token(account, device) };
  }

  #token(account: string, device: string): Promise<string | null> {
    if (!ID.test(account) || !ID.test(device)) return Promise.resolve(null);
    const key = `${account}/${device}`;
    let token = this.#tokens.get(key);
    if (token === undefined) {
      token = deviceToken(this.server, account, device).catch(() => null);
      this.#tokens.set(key, token);
    }
    return token;
  }
}

/** Whether a connection from `address` to the server can be made. */
function canBind(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: address });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function encodeInput(input: SyncInput): { device: string; frames: string[] } {
  return { device: input.device, frames: input.frames.map((f) => Buffer.from(f).toString('base64')) };
}

function decodeInput(input: { readonly device?: string; readonly frames?: readonly string[] }): SyncInput {
  return {
    device: input.device ?? 'fuzz',
    frames: (input.frames ?? []).map((frame) => new Uint8Array(Buffer.from(frame, 'base64'))),
  };
}

/** The message kind of a sync frame, from its first bytes. */
function frameKind(frame: Uint8Array): string {
  if (frame[0] === 0) return ['step1', 'step2', 'update'][frame[1] ?? 3] ?? 'sync';
  return ['sync', 'awareness', 'auth', 'query-awareness'][frame[0] ?? 4] ?? 'unknown-type';
}

function httpProblem(outcome: HttpOutcome): string | null {
  const bad = outcome.statuses.find((status) => status >= 500);
  if (bad !== undefined) return `http ${bad}: ${/"code":"(\w+)"/.exec(outcome.head)?.[1] ?? 'no error code'}`;
  return null;
}

function syncProblem(outcome: SyncOutcome): string | null {
  if (outcome.kind === 'refused' && outcome.status >= 500) return `sync upgrade answered ${outcome.status}`;
  if (outcome.kind === 'closed' && !ALLOWED_CLOSES.has(outcome.code)) {
    return `sync close ${outcome.code}${outcome.reason ? `: ${outcome.reason}` : ''}`;
  }
  return null;
}

function outcomeKey(outcome: HttpOutcome): string {
  const code = /"code":"(\w+)"/.exec(outcome.head)?.[1] ?? '';
  return `${outcome.statuses.join(',')} ${code} ${outcome.closed}`;
}

function syncKey(outcome: SyncOutcome): string {
  if (outcome.kind === 'closed') return `closed ${outcome.code} ${outcome.reason}`;
  if (outcome.kind === 'refused') return `refused ${outcome.status}`;
  if (outcome.kind === 'answered') return `answered ${Math.min(outcome.messages, 3)}`;
  return 'timeout';
}

/** Digits vary between runs of one fault (ports, clocks, lengths): they are not part of it. */
function normalize(signature: string): string {
  return signature
    .replace(/\d{5,}/g, 'N')
    .replace(/\s+/g, ' ')
    .slice(0, 160);
}

/** The line naming the error in a stack trace or a fatal V8 message. */
export function firstErrorLine(text: string): string | null {
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (/^(\w*Error|FATAL ERROR)\b/.test(trimmed) || /^\w+Error \[/.test(trimmed)) return trimmed.slice(0, 200);
  }
  return null;
}
