/** Push registration through the contract's `PUT /v1/accounts/{a}/devices/{d}` (SPEC SDK-9, SDK-20). */

/** An APNs registration (the body of v1; `platform` may be left out). */
export interface ApnsPushRegistration {
  readonly platform?: 'apns';
  /** The APNs device token, hex. */
  readonly apnsToken: string;
  /** Which APNs environment the token belongs to. */
  readonly environment: 'production' | 'sandbox';
  /** The app's bundle id, when it differs from the server's configured topic. */
  readonly topic?: string;
  /** Whether the server should push badges to this device (false: it keeps the token but stays silent). */
  readonly badges: boolean;
}

/** An Android app's FCM registration token (`FirebaseMessaging.getToken()`). */
export interface FcmPushRegistration {
  readonly platform: 'fcm';
  readonly fcmToken: string;
  /** Default true. */
  readonly badges?: boolean;
}

/** A subscription's JSON (`PushSubscription.toJSON()`): what the server stores and pushes to. */
export interface WebPushSubscriptionJson {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/** A browser `PushSubscription`, or anything with its `toJSON()` (only that is read). */
export interface PushSubscriptionLike {
  toJSON(): { endpoint?: string; keys?: Record<string, string> };
}

/**
 * A web app's Web Push subscription, made with the server's VAPID key
 * (`pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: await webPushKey(…) })`).
 */
export interface WebPushRegistration {
  readonly platform: 'webpush';
  readonly subscription: PushSubscriptionLike | WebPushSubscriptionJson;
  /** Default true. */
  readonly badges?: boolean;
}

/** What registerPush sends: the body of `PUT /v1/accounts/{a}/devices/{d}`. */
export type PushRegistration = ApnsPushRegistration | FcmPushRegistration | WebPushRegistration;

/** The device as the server stored it. */
export interface RegisteredDevice {
  readonly device: string;
  /** The platform of the registration's push address; null before it has one. */
  readonly platform?: 'apns' | 'fcm' | 'webpush' | null;
  /** The APNs token (null on other platforms). */
  readonly apnsToken: string | null;
  /** On FCM: the registration token. */
  readonly fcmToken?: string;
  /** On Web Push: the subscription's endpoint (its keys are never echoed). */
  readonly endpoint?: string;
  readonly environment: string | null;
  readonly topic: string | null;
  readonly badges: boolean;
  readonly tokenInvalidReason: string | null;
}

/** The little of `fetch` the SDK uses. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

/** A backend API call answered with an error (`{"error": {"code", "message"}}`). */
export class BadgeSyncHttpError extends Error {
  override readonly name = 'BadgeSyncHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

/** Calls one device route with the device token as bearer; throws BadgeSyncHttpError on an error answer. */
export async function deviceRequest(
  fetchImpl: FetchLike,
  url: string,
  method: 'PUT' | 'DELETE',
  token: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetchImpl(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (res.status >= 200 && res.status < 300) return parsed;
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  throw new BadgeSyncHttpError(
    res.status,
    typeof error?.code === 'string' ? error.code : 'http_error',
    typeof error?.message === 'string' ? error.message : text.slice(0, 200),
  );
}

/** The JSON body for a registration: only the fields the app gave. */
export function registrationBody(registration: PushRegistration): Record<string, unknown> {
  const badges = registration.badges === undefined ? {} : { badges: registration.badges };
  if (registration.platform === 'fcm') return { platform: 'fcm', fcmToken: registration.fcmToken, ...badges };
  if (registration.platform === 'webpush') {
    return { platform: 'webpush', subscription: subscriptionJson(registration.subscription), ...badges };
  }
  return {
    ...(registration.platform === undefined ? {} : { platform: 'apns' }),
    apnsToken: registration.apnsToken,
    environment: registration.environment,
    badges: registration.badges,
    ...(registration.topic === undefined ? {} : { topic: registration.topic }),
  };
}

/** The endpoint and keys of a subscription (a browser's `PushSubscription` or its JSON); throws when either is missing. */
export function subscriptionJson(
  subscription: PushSubscriptionLike | WebPushSubscriptionJson,
): WebPushSubscriptionJson {
  const json =
    'toJSON' in subscription && typeof subscription.toJSON === 'function' ? subscription.toJSON() : subscription;
  const { endpoint, keys } = json as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  if (typeof endpoint !== 'string' || typeof keys?.p256dh !== 'string' || typeof keys.auth !== 'string') {
    throw new TypeError('a Web Push subscription needs an endpoint and keys.p256dh and keys.auth');
  }
  return { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } };
}

/** Where the server serves its VAPID public key (SPEC API-20). */
export const WEBPUSH_KEY_PATH = '/v1/push/webpush-key';

/**
 * [SDK-20] The server's VAPID public key, as the `applicationServerKey` bytes
 * `pushManager.subscribe` takes. `apiBase`: the server's http(s) base; `token`: this device's
 * token (or, on a backend, the API key).
 */
export async function webPushKey(options: {
  readonly apiBase: string;
  readonly token: string;
  readonly fetch?: FetchLike;
}): Promise<Uint8Array> {
  const fetchImpl = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const res = await fetchImpl(`${options.apiBase.replace(/\/$/, '')}${WEBPUSH_KEY_PATH}`, {
    method: 'GET',
    headers: { authorization: `Bearer ${options.token}` },
  });
  const text = await res.text();
  type KeyAnswer = { publicKey?: unknown; error?: { code?: unknown; message?: unknown } } | null;
  let parsed: KeyAnswer;
  try {
    parsed = JSON.parse(text) as KeyAnswer;
  } catch {
    parsed = null;
  }
  if (res.status !== 200 || typeof parsed?.publicKey !== 'string') {
    const error = parsed?.error;
    throw new BadgeSyncHttpError(
      res.status,
      typeof error?.code === 'string' ? error.code : 'http_error',
      typeof error?.message === 'string' ? error.message : text.slice(0, 200),
    );
  }
  return base64UrlBytes(parsed.publicKey);
}

/** Decodes base64url (no padding needed) without Node's Buffer: the SDK runs in browsers. */
export function base64UrlBytes(text: string): Uint8Array {
  const base64 = text
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(text.length / 4) * 4, '=');
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
