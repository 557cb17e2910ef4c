/**
 * `PushSender` for a platform without credentials (no FCM service account, no VAPID keys):
 * like `LogSender` for APNs, every push is checked as the real sender checks it, logged with
 * its fields, and counts as sent, so the push policy behaves exactly as it would with the
 * platform configured.
 */
import { type PushLog, type PushSender, SENDER_CLOSED, type SendResult } from './push-sender.js';

export interface UnconfiguredSenderOptions<P> {
  readonly log: PushLog;
  /** What is missing, for the log line, e.g. `no FCM service account configured`. */
  readonly missing: string;
  /** The real sender's checks before sending (null: well-formed). */
  readonly check: (push: P) => SendResult | null;
  /** The fields logged for a push. */
  readonly fields: (push: P) => Readonly<Record<string, unknown>>;
}

export class UnconfiguredSender<P> implements PushSender<P> {
  readonly #options: UnconfiguredSenderOptions<P>;
  #closed = false;

  constructor(options: UnconfiguredSenderOptions<P>) {
    this.#options = options;
  }

  async send(push: P): Promise<SendResult> {
    const malformed = this.#options.check(push);
    if (malformed !== null) return malformed;
    if (this.#closed) return { kind: 'retry', reason: SENDER_CLOSED };
    this.#options.log('info', this.#options.fields(push), `badge push logged, not sent: ${this.#options.missing}`);
    return { kind: 'sent' };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
