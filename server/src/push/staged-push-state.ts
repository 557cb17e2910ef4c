import type { OutboxEntry, PushWrite, Store, TokenRefusal } from '../store/store.js';
import type { PushWrites } from './ports.js';

/** A staged value, boxed so that two stagings of the same value are told apart. */
interface Staged<V> {
  readonly value: V;
}

/**
 * A push address's outbox entry and delivered badge as the scheduler last wrote them: a write
 * goes to the group commit (PushWrites) and is read back from here until it is durable, then
 * from the store (which sees it by then, STORE-18). Correct only when the writes and the reads
 * of one address are not interleaved (the scheduler's TokenLanes): a read that missed the
 * staged values then finds the store holding every earlier write of that address.
 */
export class StagedPushState {
  /** Outbox writes not yet durable, by address (null: removed). */
  readonly #outbox = new Map<string, Staged<OutboxEntry | null>>();
  /** Delivered badges not yet durable, by address (null: cleared). */
  readonly #delivered = new Map<string, Staged<number | null>>();

  constructor(
    private readonly store: Pick<Store, 'getPush' | 'getDelivered'>,
    private readonly writes: PushWrites,
  ) {}

  /** The address's outbox entry, including writes not yet durable. */
  getPush(token: string): Promise<OutboxEntry | null> {
    const staged = this.#outbox.get(token);
    return staged !== undefined ? Promise.resolve(staged.value) : this.store.getPush(token);
  }

  getDelivered(token: string): Promise<number | null> {
    const staged = this.#delivered.get(token);
    return staged !== undefined ? Promise.resolve(staged.value) : this.store.getDelivered(token);
  }

  enqueue(entry: OutboxEntry): void {
    this.#stage(this.#outbox, entry.token, entry, { kind: 'enqueuePush', entry });
  }

  /** Removes the address's entry if it still carries `badge` (a newer value stays). */
  async remove(token: string, badge: number): Promise<void> {
    const current = await this.getPush(token);
    if (current === null || current.badge !== badge) return;
    this.#stage(this.#outbox, token, null, { kind: 'removePush', token, badge });
  }

  setDelivered(token: string, badge: number, at: number): void {
    this.#stage(this.#delivered, token, badge, { kind: 'setDelivered', token, badge, at });
  }

  /** [PUSH-6] The push service has shown the address nothing yet. */
  clearDelivered(token: string): void {
    this.#stage(this.#delivered, token, null, { kind: 'clearDelivered', token });
  }

  /** [PUSH-7] Registrations stop using the address (read from the store once durable). */
  invalidate(token: string, refusal: TokenRefusal): void {
    this.writes.write({ kind: 'invalidateToken', token, refusal });
  }

  /** Stages a value over the store until the write that carries it is durable. */
  #stage<V>(map: Map<string, Staged<V>>, token: string, value: V, write: PushWrite): void {
    const staged = { value };
    map.set(token, staged);
    this.writes.write(write);
    this.writes.afterWrites(() => {
      if (map.get(token) === staged) map.delete(token);
    });
  }
}
