import { randomBytes } from 'node:crypto';
import type { Asynchronous, MetaStore } from './store/store.js';

export interface Secrets {
  readonly apiKey: string;
  readonly deviceSecret: string;
  /** True when this start generated them (print them once). */
  readonly generated: boolean;
}

/**
 * [CONF-2] The API key and device secret: configured, or generated once, stored with the
 * data (so restarts keep tokens valid) and reported for printing.
 */
export async function resolveSecrets(
  store: Asynchronous<MetaStore>,
  apiKey: string | null,
  deviceSecret: string | null,
): Promise<Secrets> {
  let generated = false;
  const pick = async (configured: string | null, meta: string, bytes: number): Promise<string> => {
    if (configured !== null) return configured;
    const stored = await store.getMeta(meta);
    if (stored !== null) return stored;
    // [STORE-30] Claimed, not set: cluster nodes starting together on one database each
    // generate one, and all of them must sign and check tokens with the first one stored.
    const fresh = randomBytes(bytes).toString('base64url');
    const kept = await store.claimMeta(meta, fresh);
    if (kept === fresh) generated = true;
    return kept;
  };
  const resolved = {
    apiKey: await pick(apiKey, 'generated_api_key', 24),
    deviceSecret: await pick(deviceSecret, 'generated_device_secret', 32),
  };
  return { ...resolved, generated };
}
