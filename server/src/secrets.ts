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
    const fresh = randomBytes(bytes).toString('base64url');
    await store.setMeta(meta, fresh);
    generated = true;
    return fresh;
  };
  const resolved = {
    apiKey: await pick(apiKey, 'generated_api_key', 24),
    deviceSecret: await pick(deviceSecret, 'generated_device_secret', 32),
  };
  return { ...resolved, generated };
}
