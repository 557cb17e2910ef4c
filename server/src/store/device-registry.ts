import type { AccountId, DeviceId } from '@badgesync/shared';

/**
 * A push registration: one device in one account, as PUT /v1/accounts/{a}/devices/{d} set it
 * (SPEC STORE-14). A device signed in to two accounts has two, each with its own token, so a
 * device token for one account changes only that account's registration. The phone a push
 * reaches is its push address (push-address.ts: an APNs token, an FCM token or a Web Push
 * endpoint): registrations that carry the same address are one phone (SPEC STORE-19).
 */
export interface Registration {
  readonly account: AccountId;
  readonly device: DeviceId;
  /**
   * The push address (push-address.ts): the lower-case hex APNs token as is, `fcm:<token>`
   * or `webpush:<endpoint>`; null when none is registered.
   */
  readonly address: string | null;
  /** The Web Push subscription's keys (base64url), for a `webpush:` address; else null. */
  readonly webpushKeys: WebPushKeys | null;
  readonly environment: 'production' | 'sandbox';
  /** Bundle id overriding the configured topic, or null. */
  readonly topic: string | null;
  readonly badges: boolean;
  /** When the push address was last registered (ms since epoch); compared with 410 timestamps. */
  readonly tokenRegisteredAt: number;
  /** Why the token stopped being used (e.g. 'Unregistered', 'BadDeviceToken'), or null while valid. */
  readonly tokenInvalidReason: string | null;
  /**
   * False once the device signed out of the account. The registration is kept: its phone may
   * still show the account's count, which the next push (without it) clears.
   */
  readonly signedIn: boolean;
}

/** A Web Push subscription's keys, as the browser's `PushSubscription.toJSON()` gives them. */
export interface WebPushKeys {
  /** The browser's P-256 ECDH public key, base64url (65 bytes uncompressed). */
  readonly p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  readonly auth: string;
}

/** What the push service refused, for Store.invalidateToken. */
export interface TokenRefusal {
  readonly reason: string;
  /** Registrations of the token made after this (ms since epoch) keep it. */
  readonly registeredAtOrBefore: number;
  /** The environment of the refused push. */
  readonly environment: 'production' | 'sandbox';
  /** The registration's topic the refused push used (null: it named none, the configured one went). */
  readonly topic: string | null;
}

/**
 * The fields a registration may set; omitted ones keep their value. At most one of
 * `apnsToken`, `fcmToken` and `webpush` (the API makes sure): the new push address.
 */
export interface DevicePatch {
  readonly apnsToken?: string;
  readonly fcmToken?: string;
  readonly webpush?: { readonly endpoint: string; readonly keys: WebPushKeys };
  readonly environment?: 'production' | 'sandbox';
  readonly topic?: string;
  readonly badges?: boolean;
}

/** Push registrations (SPEC STORE-7, STORE-14), one per (account, device), and sign-outs. */
export interface DeviceRegistry {
  /**
   * [STORE-7] Registers or updates the device's registration in the account and signs it in,
   * in one transaction. Only that (account, device) pair changes (STORE-14). A sign-out's
   * revocation stays (SPEC AUTH-8).
   */
  putDevice(account: AccountId, device: DeviceId, patch: DevicePatch, now: number): Registration;
  /**
   * Signs the device out of the account and records when: its tokens issued at or before that
   * second are revoked for good (SPEC AUTH-8). The registration is kept, signed out. False
   * when it was not signed in.
   */
  signOut(account: AccountId, device: DeviceId, now: number): boolean;
  /** When the device was last signed out of the account (signed in again since or not); else null. */
  revokedAt(account: AccountId, device: DeviceId): number | null;
  /** The device's registration in the account (signed in or out), or null. */
  getRegistration(account: AccountId, device: DeviceId): Registration | null;
  /** Devices signed in to the account, sorted. */
  devicesOf(account: AccountId): DeviceId[];
  /**
   * [STORE-44] The registrations of the devices signed in to the account, sorted by device: in
   * one read what devicesOf and a getRegistration of each device answer.
   */
  registrationsOf(account: AccountId): Registration[];
  /**
   * [STORE-14] Every registration carrying the push address (one phone), signed in or not,
   * sorted by account, device.
   */
  registrationsOfToken(address: string): Registration[];
  /**
   * Phones a push could reach: push addresses carried by a registration that is pushable (token not
   * invalidated, badges on), signed in or not — a phone signed out of everything may still
   * need its badge cleared. Sorted. For the restart sweep that re-queues every badge APNs may
   * not have.
   */
  pushableTokens(): string[];
  /**
   * Marks the token unusable with a reason (410, 400 BadDeviceToken, …) in every registration
   * that carries it for the environment and topic the refused push went to, and registered
   * it at or before `registeredAtOrBefore` (a later registration of the token is newer than
   * what APNs refused; one naming another environment or topic is not what APNs judged).
   */
  invalidateToken(address: string, refusal: TokenRefusal): void;
}
