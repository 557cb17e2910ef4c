import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CommitReply, CommitRequest } from './commit-messages.js';
import { packUpdates } from './commit-updates.js';
import type { WriteBatch } from './write-batch.js';

interface Waiting {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** The worker's entry next to this file: the TypeScript source through tsx, or the built JavaScript. */
function startWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './commit-worker.ts' : './commit-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry);
  // Run from source (tests, `pnpm start`): the worker registers tsx itself. Passing
  // `--import tsx` in execArgv does not reach a worker's module loader on Node 20.
  const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(tsxDir, 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(boot, { eval: true });
}

function toError(error: NonNullable<CommitReply['error']>): Error {
  const err = new Error(error.message) as Error & { code?: string };
  err.name = error.name;
  if (error.code !== null) err.code = error.code;
  return err;
}

/**
 * The commit thread (SPEC STORE-17, docs/ARCHITECTURE.md), one per process: every SqliteStore
 * of the process hands it its batches. It keeps the process alive only while a batch is in
 * flight. Should it die, every batch waiting fails (the group commit then stops the process,
 * STORE-11) and the next batch starts a new thread.
 */
export class CommitThread {
  static #shared: CommitThread | null = null;

  static shared(): CommitThread {
    CommitThread.#shared ??= new CommitThread();
    return CommitThread.#shared;
  }

  readonly #worker: Worker;
  readonly #waiting = new Map<number, Waiting>();
  #nextId = 1;
  /** [STORE-18] Tells this thread's batch ids from those of earlier processes in the file's mark. */
  readonly epoch = randomUUID();
  #dead: Error | null = null;

  private constructor() {
    this.#worker = startWorker();
    this.#worker.on('message', (reply: CommitReply) => this.#settle(reply));
    this.#worker.on('error', (err: Error) => this.#die(err));
    this.#worker.on('exit', (code: number) => this.#die(new Error(`the commit thread exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the thread's port again, and an idle
    // thread that held the process alive kept a node whose start-up failed from exiting.
    this.#worker.unref();
  }

  /** The id the next batch will get. */
  get nextId(): number {
    return this.#nextId;
  }

  /**
   * Resolves once the thread runs its code and answers (booting it from source takes seconds):
   * messages sent before then wait in its queue, so a server that serves before this holds its
   * first answers for the boot.
   */
  ready(): Promise<void> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    const done = new Promise<void>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    if (this.#waiting.size === 1) this.#worker.ref();
    const request: CommitRequest = { kind: 'ping', id };
    this.#worker.postMessage(request);
    return done;
  }

  /** Writes `batch` to the file at `path` in one transaction; resolves once it is durable. */
  commit(path: string, batch: WriteBatch, holdMs: number): Promise<void> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    const done = new Promise<void>((resolve, reject) => this.#waiting.set(id, { resolve, reject }));
    if (this.#waiting.size === 1) this.#worker.ref();
    // [STORE-31] The updates packed and handed over; the rest of the batch cloned as it is.
    const { updates, ...rest } = batch;
    const { packed, transfer } = packUpdates(updates);
    const request: CommitRequest = {
      kind: 'commit',
      id,
      path,
      batch: rest,
      updates: packed,
      holdMs,
      epoch: this.epoch,
    };
    this.#worker.postMessage(request, transfer);
    return done;
  }

  /** Closes the thread's connection to `path` once the batches sent before are written. */
  close(path: string): void {
    if (this.#dead !== null) return;
    const request: CommitRequest = { kind: 'close', path };
    this.#worker.postMessage(request);
  }

  #settle(reply: CommitReply): void {
    const waiting = this.#waiting.get(reply.id);
    if (waiting === undefined) return;
    this.#waiting.delete(reply.id);
    if (this.#waiting.size === 0) this.#worker.unref();
    if (reply.error === null) waiting.resolve();
    else waiting.reject(toError(reply.error));
  }

  #die(err: Error): void {
    if (this.#dead !== null) return;
    this.#dead = err;
    if (CommitThread.#shared === this) CommitThread.#shared = null;
    for (const waiting of this.#waiting.values()) waiting.reject(err);
    this.#waiting.clear();
  }
}
