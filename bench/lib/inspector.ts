/**
 * A tiny client of a child's V8 inspector (started with `--inspect=127.0.0.1:0`): forces a
 * full garbage collection and reads the heap in use, so memory figures count what the
 * process retains, not garbage V8 has not collected yet.
 */
import { WebSocket } from 'ws';
import type { Child } from './children.js';

/** The inspector prints its address within milliseconds of start-up. */
const ATTACH_TIMEOUT_MS = 10_000;

export class Inspector {
  #next = 1;
  readonly #waiting = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const waiter = this.#waiting.get(message.id);
      if (waiter === undefined) return;
      this.#waiting.delete(message.id);
      if (message.error !== undefined) waiter.reject(new Error(message.error.message));
      else waiter.resolve(message.result);
    });
    ws.on('close', () => {
      for (const waiter of this.#waiting.values()) waiter.reject(new Error('inspector connection closed'));
      this.#waiting.clear();
    });
  }

  /** Connects to the inspector `child` announced on stderr. */
  static async attach(child: Child): Promise<Inspector> {
    const until = Date.now() + ATTACH_TIMEOUT_MS;
    const announced = () => /Debugger listening on (ws:\/\/\S+)/.exec(child.stderr())?.[1];
    let url = announced();
    while (url === undefined) {
      if (Date.now() > until) throw new Error(`no inspector address from the child\n${child.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      url = announced();
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  #call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** A full, synchronous garbage collection in the child. */
  async collectGarbage(): Promise<void> {
    await this.#call('HeapProfiler.collectGarbage');
  }

  /** Bytes of the V8 heap in use. */
  async heapUsed(): Promise<number> {
    const usage = (await this.#call('Runtime.getHeapUsage')) as { usedSize: number };
    return usage.usedSize;
  }

  close(): void {
    this.ws.close();
  }
}
