/**
 * The rows the SQL stores read registrations and outbox entries from, and their mapping to the
 * contract's objects, shared by SqliteStore and PgStore: the same columns in both schemas; a
 * flag is SQLite's 0/1 or PostgreSQL's boolean.
 */
import type { AccountId, DeviceId } from '@badgesync/shared';
import type { Registration } from './device-registry.js';
import type { OutboxEntry } from './push-outbox.js';

/** A SQL flag: SQLite stores 0/1, PostgreSQL a boolean. */
type Flag = number | boolean;

function isSet(flag: Flag): boolean {
  return flag === true || flag === 1;
}

export interface RegistrationRow {
  readonly account: string;
  readonly device: string;
  readonly push_address: string | null;
  readonly webpush_p256dh: string | null;
  readonly webpush_auth: string | null;
  readonly environment: string;
  readonly topic: string | null;
  readonly badges: Flag;
  readonly token_registered_at: number;
  readonly token_invalid_reason: string | null;
  readonly signed_in: Flag;
}

export interface OutboxRow {
  readonly token: string;
  readonly badge: number;
  readonly changed_at: number;
  readonly due_at: number;
  readonly attempts: number;
  readonly parked: Flag;
}

export function toRegistration(row: RegistrationRow): Registration {
  return {
    account: row.account as AccountId,
    device: row.device as DeviceId,
    address: row.push_address,
    webpushKeys:
      row.webpush_p256dh === null || row.webpush_auth === null
        ? null
        : { p256dh: row.webpush_p256dh, auth: row.webpush_auth },
    environment: row.environment === 'sandbox' ? 'sandbox' : 'production',
    topic: row.topic,
    badges: isSet(row.badges),
    tokenRegisteredAt: row.token_registered_at,
    tokenInvalidReason: row.token_invalid_reason,
    signedIn: isSet(row.signed_in),
  };
}

export function toOutboxEntry(row: OutboxRow): OutboxEntry {
  return {
    token: row.token,
    badge: row.badge,
    changedAt: row.changed_at,
    dueAt: row.due_at,
    attempts: row.attempts,
    parked: isSet(row.parked),
  };
}
