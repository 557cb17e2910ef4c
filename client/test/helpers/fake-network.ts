import type { NetworkMonitor } from '../../src/websocket-like.js';

/** A network the test switches on and off, like a browser's `online`/`offline` events. */
export class FakeNetwork implements NetworkMonitor {
  readonly #listeners = new Set<(online: boolean) => void>();

  constructor(public online = true) {}

  subscribe(listener: (online: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(online: boolean): void {
    this.online = online;
    for (const listener of this.#listeners) listener(online);
  }
}
