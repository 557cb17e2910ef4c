import { randomBytes } from 'node:crypto';
import type { MetaStore } from './store/store.js';

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
export function resolveSecrets(store: MetaStore, apiKey: string | null, deviceSecret: string | null): Secrets {
  let generated = false;
  const pick = (configured: string | null, meta: string, bytes: number): string => {
    if (configured !== null) return configured;
    const stored = store.getMeta(meta);
    if (stored !== null) return stored;
    const fresh = randomBytes(bytes).toString('base64url');
    store.setMeta(meta, fresh);
    generated = true;
    return fresh;
  };
  const resolved = {
    apiKey: pick(apiKey, 'generated_api_key', 24),
    deviceSecret: pick(deviceSecret, 'generated_device_secret', 32),
  };
  return { ...resolved, generated };
}
