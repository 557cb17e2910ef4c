import type { Logger } from 'pino';
import type { PushWrite, Store } from '../store/store.js';
import type { PushWrites } from './ports.js';

/**
 * Push writes straight to the store, for a scheduler without the server's group commit (unit
 * tests): each write is one commit, in the order written (one after another, so a store on
 * the network cannot apply a removal before the enqueue it follows), and afterWrites runs
 * once every write made before it is durable. A refused commit is logged; what runs after it
 * still runs, and reads then see the store as it is.
 */
export class StoreWrites implements PushWrites {
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;

  constructor(
    private readonly store: Pick<Store, 'commit'>,
    private readonly log: Logger,
  ) {}

  write(write: PushWrite): void {
    this.#pending++;
    this.#tail = this.#tail
      .then(() => this.store.commit({ updates: [], counts: [], bindings: [], idempotency: [], push: [write] }))
      .catch((err: unknown) => this.log.error({ err, kind: write.kind }, 'push write failed'))
      .finally(() => {
        this.#pending--;
      });
  }

  afterWrites(callback: () => void): void {
    if (this.#pending === 0) {
      callback();
      return;
    }
    this.#tail = this.#tail.then(callback).catch((err: unknown) => {
      this.log.error({ err, where: 'after push writes' }, 'unexpected throw caught at the boundary');
    });
  }

  /** Resolves once every write so far is durable (or refused). */
  async flushed(): Promise<void> {
    while (this.#pending > 0) await this.#tail;
  }
}
