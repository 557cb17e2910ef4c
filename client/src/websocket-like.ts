/**
 * The little of a WebSocket the SDK uses: the browser's `WebSocket` and the `ws` package
 * both fit, and unit tests drive a fake by hand.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { readonly code: number; readonly reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `WebSocket` from `ws` in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;

/** WebSocket.OPEN */
export const OPEN = 1;

/** Whether the network is up, as the platform knows it (browsers), with change events. */
export interface NetworkMonitor {
  readonly online: boolean;
  /** Calls `listener` when the platform says the network went down or came back. */
  subscribe(listener: (online: boolean) => void): () => void;
}

interface EventTargetLike {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * The platform's network state: `navigator.onLine` and the window's `online`/`offline`
 * events in browsers (Chromium keeps an open WebSocket open when the network goes away,
 * so the event is the fastest way to know); always online where there are none (Node).
 */
export function platformNetwork(): NetworkMonitor {
  const g = globalThis as { navigator?: { onLine?: unknown } } & Partial<EventTargetLike>;
  const target = typeof g.addEventListener === 'function' ? (g as EventTargetLike) : null;
  if (target === null || typeof g.navigator?.onLine !== 'boolean') {
    return { online: true, subscribe: () => () => {} };
  }
  return {
    get online() {
      return g.navigator?.onLine !== false;
    },
    subscribe(listener) {
      const up = () => listener(true);
      const down = () => listener(false);
      target.addEventListener('online', up);
      target.addEventListener('offline', down);
      return () => {
        target.removeEventListener('online', up);
        target.removeEventListener('offline', down);
      };
    },
  };
}
