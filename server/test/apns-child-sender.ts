/**
 * A `PushSender` whose `ApnsSender` lives in a child process (fixtures/apns-sender-child.ts)
 * started with NODE_EXTRA_CA_CERTS = the test APNs server's CA: the way a deployment trusts a
 * private CA, which Node reads only at process start. The contract suite and the APNs tests
 * drive it like any sender.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ApnsTestServer } from '../../test/helpers/apns-test-server.js';
import type { BadgePush, PushLogLevel, PushSender, SendResult } from '../src/push/push-sender.js';
import type { ChildConfig } from './fixtures/apns-sender-child.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'apns-sender-child.ts');
const SERVER_DIR = path.dirname(here);
/** A child that is not ready in 10 s is broken (tsx start-up takes well under a second). */
const READY_TIMEOUT_MS = 10_000;
/** A closing child gets 5 s to finish its pushes before it is killed. */
const EXIT_TIMEOUT_MS = 5_000;

export interface ChildApnsSenderOptions {
  readonly server: ApnsTestServer;
  /** Default: the server's key file, key id and team id. */
  readonly keyFile?: string;
  readonly keyId?: string;
  readonly teamId?: string;
  /** Default: the server's address. */
  readonly host?: string | null;
  readonly requestTimeoutMs?: number;
  readonly clockOffsetMs?: number;
  /** Default true; false starts the child without NODE_EXTRA_CA_CERTS. */
  readonly trustTestCa?: boolean;
}

export interface ChildLogLine {
  readonly level: PushLogLevel;
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

type Answer = { readonly id: number; readonly result?: SendResult; readonly ok?: true; readonly error?: string };

const running = new Set<ChildProcessWithoutNullStreams>();

/** Kills every child still running (an `after` hook's safety net). */
export function killAllChildSenders(): void {
  for (const child of running) {
    child.kill('SIGKILL');
  }
}

export class ChildApnsSender implements PushSender {
  /** Every `log` line the sender wrote. */
  readonly logs: ChildLogLine[] = [];
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, (answer: Answer) => void>();
  readonly #exited: Promise<void>;
  #stderr = '';
  #nextId = 1;
  #gone = false;

  private constructor(child: ChildProcessWithoutNullStreams, ready: () => void) {
    this.#child = child;
    running.add(child);
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        this.#gone = true;
        running.delete(child);
        for (const settle of this.#pending.values()) {
          settle({ id: 0, error: `child exited; stderr: ${this.#stderr}` });
        }
        this.#pending.clear();
        resolve();
      });
    });
    // A child that died mid-write must surface as a failed call, not an EPIPE crash.
    child.stdin.on('error', () => {});
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      this.#stderr += text;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const message = JSON.parse(line) as { ready?: true; log?: ChildLogLine } & Partial<Answer>;
      if (message.ready === true) {
        ready();
      } else if (message.log !== undefined) {
        this.logs.push(message.log);
      } else if (message.id !== undefined) {
        this.#pending.get(message.id)?.(message as Answer);
        this.#pending.delete(message.id);
      }
    });
  }

  static async start(options: ChildApnsSenderOptions): Promise<ChildApnsSender> {
    const { server } = options;
    const config: ChildConfig = {
      keyFile: options.keyFile ?? server.keyPath,
      keyId: options.keyId ?? server.keyId,
      teamId: options.teamId ?? server.teamId,
      host: options.host === undefined ? server.address : options.host,
      ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }),
      ...(options.clockOffsetMs === undefined ? {} : { clockOffsetMs: options.clockOffsetMs }),
    };
    const env: NodeJS.ProcessEnv = { ...process.env };
    // The child is a plain program, not a test file of this run.
    delete env.NODE_TEST_CONTEXT;
    delete env.NODE_EXTRA_CA_CERTS;
    if (options.trustTestCa !== false) {
      env.NODE_EXTRA_CA_CERTS = server.caPath;
    }
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, JSON.stringify(config)], {
      cwd: SERVER_DIR,
      env,
      stdio: 'pipe',
    });
    let sender: ChildApnsSender | undefined;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('APNs child sender not ready in time')), READY_TIMEOUT_MS);
      sender = new ChildApnsSender(child, () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`APNs child sender exited with ${code} before ready: ${sender?.stderr ?? ''}`));
      });
    }).catch((error: unknown) => {
      child.kill('SIGKILL');
      throw error;
    });
    return sender as ChildApnsSender;
  }

  /** What the child wrote to stderr (for failure messages). */
  get stderr(): string {
    return this.#stderr;
  }

  async send(push: BadgePush): Promise<SendResult> {
    const answer = await this.#call({ op: 'send', push });
    if (answer.result === undefined) {
      throw new Error(`child sender: ${answer.error ?? 'no result'}`);
    }
    return answer.result;
  }

  /** Shifts the sender's clock (provider token age, expiry) by `offsetMs` from real time. */
  async setClockOffset(offsetMs: number): Promise<void> {
    await this.#call({ op: 'clock', offsetMs });
  }

  /** `ApnsSender.close()` in the child; the child keeps running (see `stop`). */
  async close(): Promise<void> {
    const answer = await this.#call({ op: 'close' });
    if (answer.ok !== true) {
      throw new Error(`child sender: ${answer.error ?? 'close failed'}`);
    }
  }

  /** Ends stdin so the child closes its sender and exits; kills it if it has not within 5 s. */
  async stop(): Promise<void> {
    if (this.#gone) {
      return;
    }
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
    this.#child.stdin.end();
    await this.#exited;
    clearTimeout(timer);
  }

  /** Ends the child at once (no graceful close). */
  async kill(): Promise<void> {
    this.#child.kill('SIGKILL');
    await this.#exited;
  }

  #call(command: Record<string, unknown>): Promise<Answer> {
    const id = this.#nextId++;
    if (this.#gone) {
      return Promise.resolve({ id, error: `child has exited; stderr: ${this.#stderr}` });
    }
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.#child.stdin.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }
}
