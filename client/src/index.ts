/**
 * @badgesync/client — the badgesync SDK for browsers and Node (SPEC SDK-1..SDK-13).
 * Node's file storage is in `@badgesync/client/node`, so browser bundles never see `node:fs`.
 */
export { Account, type AccountEvents, type CountsEvent } from './account.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  BadgeSync,
  type BadgeSyncEvents,
  type BadgeSyncOptions,
  type DeviceCountsEvent,
} from './badge-sync.js';
export type { Clock } from './clock.js';
export type { Intent } from './intents.js';
export {
  type ApnsPushRegistration,
  BadgeSyncHttpError,
  base64UrlBytes,
  type FcmPushRegistration,
  type FetchLike,
  type PushRegistration,
  type PushSubscriptionLike,
  type RegisteredDevice,
  subscriptionJson,
  type WebPushRegistration,
  type WebPushSubscriptionJson,
  webPushKey,
} from './push.js';
export { type AccountState, type AccountStatus, type CloseInfo, SILENT_LINK } from './status.js';
export { IndexedDbStorage } from './storage/indexeddb-storage.js';
export { MemoryStorage } from './storage/memory-storage.js';
export type { BadgeSyncStorage, ReplicaMeta, StorageErrorHandler, StoredReplica } from './storage/storage.js';
export { Timing } from './timing.js';
export { type Credentials, TokenUnavailableError } from './token-source.js';
export type { NetworkMonitor, WebSocketConstructor, WebSocketLike } from './websocket-like.js';
