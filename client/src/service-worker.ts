/**
 * The badgesync service-worker helper for web apps (SPEC SDK-21): a push whose payload is a
 * badgesync badge, `{"badge": n}`, sets the app badge (`navigator.setAppBadge(n)`, or
 * `clearAppBadge()` at 0) and shows a notification only when the app asked for one. Any other
 * push is left alone, for the app's own `push` listeners.
 *
 * Two ways in, same code:
 * - a module service worker: `import { installBadgePushHandler } from '@badgesync/client/service-worker'`
 *   (registered with `{ type: 'module' }`, or bundled into the app's worker);
 * - a classic one: `importScripts('/badgesync-sw.js')` then
 *   `BadgeSyncServiceWorker.installBadgePushHandler(self)`. `pnpm -C client build` emits
 *   `dist/badgesync-sw.js` (esbuild, IIFE, global `BadgeSyncServiceWorker`).
 *
 * This file imports nothing, so the classic script is this file alone. Its types are the
 * little of the service-worker globals it uses, so it compiles beside the DOM library.
 */

/** The part of `PushMessageData` read here. */
export interface PushMessageDataLike {
  text(): string;
}

/** The part of a `PushEvent` used here. */
export interface PushEventLike {
  readonly data: PushMessageDataLike | null;
  waitUntil(work: Promise<unknown>): void;
}

/** Badging API of the worker's navigator (absent in browsers without it). */
export interface BadgingNavigatorLike {
  setAppBadge?(contents?: number): Promise<void>;
  clearAppBadge?(): Promise<void>;
}

/** What `showNotification` takes besides the title (a subset of `NotificationOptions`). */
export interface BadgeNotificationOptions {
  readonly body?: string;
  readonly icon?: string;
  readonly badge?: string;
  readonly tag?: string;
  readonly data?: unknown;
  readonly silent?: boolean;
}

/** The part of a `ServiceWorkerGlobalScope` used here. */
export interface ServiceWorkerScopeLike {
  readonly navigator: BadgingNavigatorLike;
  readonly registration: {
    showNotification(title: string, options?: BadgeNotificationOptions): Promise<void>;
  };
  addEventListener(type: 'push', listener: (event: PushEventLike) => void): void;
  removeEventListener(type: 'push', listener: (event: PushEventLike) => void): void;
}

export interface BadgePushOptions {
  /**
   * A notification to show with a badge push: its title and options, or null for none. None by
   * default: a badge is not news. Browsers that require every push to be user-visible (Safari;
   * Chrome once its allowance of silent pushes is spent) need one here.
   */
  readonly notification?: (badge: number) => { title: string; options?: BadgeNotificationOptions } | null;
  /** Called once the badge is set, e.g. to tell open pages (`clients.matchAll()` + `postMessage`). */
  readonly onBadge?: (badge: number) => void | Promise<void>;
}

/** The largest badge iOS and the server deal in (server MAX_BADGE). */
const MAX_BADGE = 2 ** 31 - 1;

/**
 * The badge of a badgesync payload: a JSON object whose only key is `badge`, a whole number
 * from 0 to 2^31 − 1. Null for anything else (another sender's push, no payload, not JSON).
 */
export function badgeOfPush(text: string | null | undefined): number | null {
  if (typeof text !== 'string') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  const badge = (value as { badge?: unknown }).badge;
  if (keys.length !== 1 || keys[0] !== 'badge' || typeof badge !== 'number') return null;
  return Number.isSafeInteger(badge) && badge >= 0 && badge <= MAX_BADGE ? badge : null;
}

/** Sets (or at 0 clears) the app badge; resolves quietly where the Badging API is missing. */
export async function applyBadge(navigator: BadgingNavigatorLike, badge: number): Promise<void> {
  if (badge === 0 && typeof navigator.clearAppBadge === 'function') return navigator.clearAppBadge();
  if (typeof navigator.setAppBadge === 'function') return navigator.setAppBadge(badge);
}

/**
 * Handles one push event: true (and the work is in `event.waitUntil`) when it was a badgesync
 * badge, false when it was not, which leaves it to the app's other listeners.
 */
export function handleBadgePush(
  scope: ServiceWorkerScopeLike,
  event: PushEventLike,
  options: BadgePushOptions = {},
): boolean {
  let text: string | null = null;
  try {
    text = event.data?.text() ?? null;
  } catch {
    text = null;
  }
  const badge = badgeOfPush(text);
  if (badge === null) return false;
  const work = async () => {
    await applyBadge(scope.navigator, badge);
    const notification = options.notification?.(badge) ?? null;
    if (notification !== null) await scope.registration.showNotification(notification.title, notification.options);
    await options.onBadge?.(badge);
  };
  event.waitUntil(work());
  return true;
}

/**
 * Adds the `push` listener to the worker (`self` by default); answers the function that
 * removes it. Call it at the top level of the worker script: browsers deliver a push only to
 * listeners added during the script's first run.
 */
export function installBadgePushHandler(
  scope: ServiceWorkerScopeLike = globalThis as unknown as ServiceWorkerScopeLike,
  options: BadgePushOptions = {},
): () => void {
  const listener = (event: PushEventLike) => {
    handleBadgePush(scope, event, options);
  };
  scope.addEventListener('push', listener);
  return () => scope.removeEventListener('push', listener);
}
