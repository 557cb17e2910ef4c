/**
 * An exclusive Web Lock (`navigator.locks`) held until released: in a browser, the replica's
 * lock of SPEC SDK-12. The browser releases it when the page goes away, even without release().
 */

/** The little of the Web Locks API used here. */
interface LockManagerLike {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => unknown): Promise<unknown>;
}

/**
 * Takes the lock `name` if nobody holds it (`ifAvailable`: never waits). Resolves with a
 * function that releases it, or null when another tab or worker holds it, or when there is no
 * Web Locks API here (Node, old browsers): then the replica is never the holder.
 */
export function holdWebLock(name: string): Promise<(() => void) | null> {
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  if (locks === undefined || typeof locks.request !== 'function') return Promise.resolve(null);
  return new Promise((resolve) => {
    void locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (lock === null) {
          resolve(null);
          return undefined;
        }
        // Held until this promise settles.
        return new Promise<void>((release) => resolve(() => release()));
      })
      .catch(() => resolve(null));
  });
}
