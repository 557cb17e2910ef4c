/**
 * The checks made on a browser's push subscription before the server posts anything to its
 * endpoint (SPEC PUSH-22).
 */
import type { WebPushSubscription } from './push-sender.js';

/**
 * The push services of the browsers people use, as host patterns (`*.` matches any
 * subdomain): Chrome, Edge (via FCM and WNS), Firefox, Safari. The server posts to a URL the
 * device chose, so only these hosts are reached unless BADGESYNC_WEBPUSH_HOSTS names others:
 * a registration cannot make the server call an internal address.
 */
export const DEFAULT_WEBPUSH_HOSTS: readonly string[] = [
  'fcm.googleapis.com',
  'updates.push.services.mozilla.com',
  '*.push.services.mozilla.com',
  '*.notify.windows.com',
  'web.push.apple.com',
  '*.push.apple.com',
];

/** The longest endpoint URL accepted: real ones are under 500 characters. */
export const MAX_ENDPOINT_LENGTH = 2048;

/** Parses BADGESYNC_WEBPUSH_HOSTS (comma-separated `host`, `host:port` or `*.suffix`); null: the defaults. */
export function webPushHosts(setting: string | null): readonly string[] {
  if (setting === null) return DEFAULT_WEBPUSH_HOSTS;
  return setting
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '');
}

/** Whether the endpoint is an https URL whose host (with its port, when one is given) a pattern allows. */
export function endpointAllowed(endpoint: string, hosts: readonly string[]): boolean {
  if (typeof endpoint !== 'string' || endpoint.length > MAX_ENDPOINT_LENGTH) return false;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol !== 'https:' || url.username !== '' || url.password !== '') return false;
  const host = url.hostname.toLowerCase();
  const hostPort = url.host.toLowerCase();
  return hosts.some((pattern) => {
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && !pattern.includes(':');
    return pattern.includes(':') ? hostPort === pattern : host === pattern && url.port === '';
  });
}

/** Whether the keys are what a browser makes: a 65-byte uncompressed P-256 point and a 16-byte secret. */
export function keysWellFormed(keys: WebPushSubscription['keys'] | undefined): boolean {
  if (typeof keys !== 'object' || keys === null) return false;
  const { p256dh, auth } = keys;
  if (typeof p256dh !== 'string' || typeof auth !== 'string') return false;
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(p256dh) || !/^[A-Za-z0-9_-]+={0,2}$/.test(auth)) return false;
  const point = Buffer.from(p256dh, 'base64url');
  return point.length === 65 && point[0] === 4 && Buffer.from(auth, 'base64url').length === 16;
}
