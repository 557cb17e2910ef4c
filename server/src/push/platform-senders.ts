/**
 * The sender registry: one `PushSender` per platform, picked by the push's `platform` (an APNs
 * push made before other platforms existed carries none). What the scheduler sends through.
 */
import type { AnyBadgePush, BadgePush, FcmBadgePush, PushSender, SendResult, WebPushBadgePush } from './push-sender.js';

/** A sender for each platform: the real one where credentials are configured, else one that logs. */
export interface PlatformSenderSet {
  readonly apns: PushSender<BadgePush>;
  readonly fcm: PushSender<FcmBadgePush>;
  readonly webpush: PushSender<WebPushBadgePush>;
}

export class PlatformSenders implements PushSender<AnyBadgePush> {
  constructor(readonly senders: PlatformSenderSet) {}

  send(push: AnyBadgePush): Promise<SendResult> {
    switch (push.platform) {
      case 'fcm':
        return this.senders.fcm.send(push);
      case 'webpush':
        return this.senders.webpush.send(push);
      default:
        return this.senders.apns.send(push);
    }
  }

  /** Closes every platform's sender, each waiting for its own pushes in flight. */
  async close(): Promise<void> {
    const { apns, fcm, webpush } = this.senders;
    await Promise.all([apns.close(), fcm.close(), webpush.close()]);
  }
}
