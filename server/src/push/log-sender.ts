/**
 * `PushSender` for a server without an APNs key (local use, demos): every push that would
 * have gone to APNs is logged with the same fields instead, and counts as sent, so the push
 * policy behaves exactly as it would with APNs.
 */
import {
  type BadgePush,
  checkBadgePush,
  type PushLog,
  type PushSender,
  SENDER_CLOSED,
  type SendResult,
} from './push-sender.js';

export interface LogSenderOptions {
  readonly log: PushLog;
}

export class LogSender implements PushSender {
  readonly #log: PushLog;
  #closed = false;

  constructor(options: LogSenderOptions) {
    this.#log = options.log;
  }

  async send(push: BadgePush): Promise<SendResult> {
    const malformed = checkBadgePush(push);
    if (malformed !== null) {
      return malformed;
    }
    if (this.#closed) {
      return { kind: 'retry', reason: SENDER_CLOSED };
    }
    this.#log(
      'info',
      {
        device: push.device,
        apnsToken: push.apnsToken,
        environment: push.environment,
        topic: push.topic,
        badge: push.badge,
        collapseId: push.collapseId,
      },
      'badge push logged, not sent: no APNs key configured',
    );
    return { kind: 'sent' };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
