import type { DeviceRegistry, TokenRefusal } from './device-registry.js';
import type { OutboxEntry, PushOutbox } from './push-outbox.js';

/**
 * A write of push state, as data (SPEC STORE-17): the group commit carries it in its batch
 * to the thread that owns the database, where a closure could not go. `token` is the push
 * address (SPEC STORE-19: an APNs token, `fcm:<token>` or `webpush:<endpoint>`), as the
 * outbox and the delivered badges key it; every platform's push state travels in these same
 * kinds. A Web Push subscription's keys are no push state: the registration keeps them, written
 * on the event loop's connection (putDevice), so no push write carries them.
 */
export type PushWrite =
  | { readonly kind: 'enqueuePush'; readonly entry: OutboxEntry }
  | { readonly kind: 'removePush'; readonly token: string; readonly badge: number }
  | { readonly kind: 'setDelivered'; readonly token: string; readonly badge: number; readonly at: number }
  | { readonly kind: 'clearDelivered'; readonly token: string }
  | { readonly kind: 'invalidateToken'; readonly token: string; readonly refusal: TokenRefusal };

/** Runs `write` against `store`: the calls it stands for, with their checks. */
export function applyPushWrite(store: PushOutbox & Pick<DeviceRegistry, 'invalidateToken'>, write: PushWrite): void {
  switch (write.kind) {
    case 'enqueuePush':
      return store.enqueuePush(write.entry);
    case 'removePush':
      return store.removePush(write.token, write.badge);
    case 'setDelivered':
      return store.setDelivered(write.token, write.badge, write.at);
    case 'clearDelivered':
      return store.clearDelivered(write.token);
    case 'invalidateToken':
      return store.invalidateToken(write.token, write.refusal);
  }
}
