/**
 * The web app of the Web Push browser test: registers the service worker (`/sw.js`, which
 * loads the SDK's classic helper with importScripts), collects what the worker reports, and
 * fetches the server's VAPID key with the SDK's `webPushKey` and its device token.
 */
import { webPushKey } from '@badgesync/client';
import type { WebPushPage, WorkerReport } from './webpush-page-api.js';

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
