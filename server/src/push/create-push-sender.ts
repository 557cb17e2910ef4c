/**
 * The sender a configuration asks for: `ApnsSender` when an APNs key file is set, else
 * `LogSender`: with no APNs key, pushes are logged, not sent.
 */
import { readFile } from 'node:fs/promises';
import { ApnsSender } from './apns-sender.js';
import { LogSender } from './log-sender.js';
import type { PushLog, PushSender } from './push-sender.js';

/** The APNs settings of the configuration (`Config` has these fields). */
export interface ApnsSettings {
  readonly apnsKeyFile: string | null;
  readonly apnsKeyId: string | null;
  readonly apnsTeamId: string | null;
  readonly apnsHost: string | null;
}

/** Throws with the missing setting's name when a key file is given without its key id or team id. */
export async function createPushSender(settings: ApnsSettings, log: PushLog): Promise<PushSender> {
  if (settings.apnsKeyFile === null) {
    log('warn', {}, 'no BADGESYNC_APNS_KEY_FILE: badge pushes are logged, not sent');
    return new LogSender({ log });
  }
  if (settings.apnsKeyId === null || settings.apnsTeamId === null) {
    const missing = settings.apnsKeyId === null ? 'BADGESYNC_APNS_KEY_ID' : 'BADGESYNC_APNS_TEAM_ID';
    throw new Error(`BADGESYNC_APNS_KEY_FILE is set but ${missing} is not`);
  }
  const signingKey = await readFile(settings.apnsKeyFile, 'utf8');
  return new ApnsSender({
    signingKey,
    keyId: settings.apnsKeyId,
    teamId: settings.apnsTeamId,
    host: settings.apnsHost,
    log,
  });
}
