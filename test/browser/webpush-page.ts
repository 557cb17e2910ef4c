/**
 * The web app of the Web Push browser test: registers the service worker (`/sw.js`, which
 * loads the SDK's classic helper with importScripts), collects what the worker reports, and
 * fetches the server's VAPID key with the SDK's `webPushKey` and its device token.
 */
import { webPushKey } from '@badgesync/client';

/** What the service worker posts to the page: a Badging API call it made, or a push the app's own listener saw. */
export type WorkerReport =
  | { readonly call: 'setAppBadge'; readonly badge: number }
  | { readonly call: 'clearAppBadge' }
  | { readonly call: 'app-push'; readonly text: string | null };

export interface WebPushPage {
  readonly ready: Promise<boolean>;
  reports(): WorkerReport[];
  /** The server's VAPID public key through the SDK, base64url again. */
  key(apiBase: string, token: string): Promise<string>;
}

const reports: WorkerReport[] = [];
navigator.serviceWorker.addEventListener('message', (event: MessageEvent<WorkerReport>) => reports.push(event.data));

const page: WebPushPage = {
  ready: navigator.serviceWorker
    .register('/sw.js')
    .then(() => navigator.serviceWorker.ready)
    .then(() => true),
  reports: () => reports,
  key: async (apiBase, token) => {
    const bytes = await webPushKey({ apiBase, token });
    return btoa(String.fromCharCode(...bytes))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '');
  },
};
(globalThis as unknown as { webpush: WebPushPage }).webpush = page;
