/** What the Web Push test page (webpush-page.ts) offers the test, without DOM types. */

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
