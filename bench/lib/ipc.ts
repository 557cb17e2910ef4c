/**
 * Request/answer over a child's IPC channel: the parent asks a client worker to do
 * something (open connections, run a load step) and awaits its answer.
 */
import type { Child } from './children.js';

interface Request {
  readonly id: number;
  readonly type: string;
  readonly payload: unknown;
}

type Answer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: string };

/** The parent's side of one worker. */
export class WorkerChannel {
  #next = 1;
  readonly #waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

  constructor(readonly child: Child) {
    child.process.on('message', (message: Answer) => {
      const waiter = this.#waiting.get(message.id);
      if (waiter === undefined) return;
      this.#waiting.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(new Error(message.error));
    });
    child.exited.then(
      (code) => {
        for (const waiter of this.#waiting.values()) {
          waiter.reject(new Error(`worker exited with ${code}\n${child.stderr()}`));
        }
        this.#waiting.clear();
      },
      () => {},
    );
  }

  request<T>(type: string, payload: unknown = null): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.child.process.send({ id, type, payload } satisfies Request);
    });
  }
}

export type Handlers = Record<string, (payload: never) => Promise<unknown> | unknown>;

/** The worker's side: answers each request with its handler's result; exits with the parent. */
export function serveRequests(handlers: Handlers): void {
  if (process.send === undefined) throw new Error('this script is a worker: start it with an IPC channel');
  const send = process.send.bind(process);
  process.on('disconnect', () => process.exit(0));
  process.on('message', (request: Request) => {
    const handler = handlers[request.type];
    const reply = (answer: Answer) => send(answer);
    if (handler === undefined) {
      reply({ id: request.id, ok: false, error: `unknown request ${request.type}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(request.payload as never))
      .then(
        (value) => reply({ id: request.id, ok: true, value }),
        (err: unknown) =>
          reply({ id: request.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
}
