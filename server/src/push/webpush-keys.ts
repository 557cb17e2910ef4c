/**
 * [PUSH-20] The VAPID key pair that signs every Web Push request: configured
 * (`BADGESYNC_VAPID_PUBLIC_KEY` + `BADGESYNC_VAPID_PRIVATE_KEY`) or generated on the first
 * start and stored with the data, like the API key (CONF-2). A browser subscription is bound
 * to the public key it was made with, so the stored pair must outlive restarts: a new pair
 * would make every existing subscription answer 403 until the web app subscribes again.
 */
import { createECDH } from 'node:crypto';
import { ConfigError } from '../config.js';
import type { Asynchronous, MetaStore } from '../store/store.js';

export interface VapidKeys {
  /** Uncompressed P-256 point (65 bytes), base64url: the web app's `applicationServerKey`. */
  readonly publicKey: string;
  /** The 32-byte private scalar, base64url. */
  readonly privateKey: string;
  /** The JWT `sub`: a `mailto:` or `https:` contact the push service may use. */
  readonly subject: string;
  /** True when this start generated the pair. */
  readonly generated: boolean;
}

/** The VAPID settings of the configuration (`Config` has these fields). */
export interface VapidSettings {
  readonly vapidPublicKey: string | null;
  readonly vapidPrivateKey: string | null;
  readonly vapidSubject: string | null;
}

/**
 * A placeholder contact for local use. Push services use `sub` to reach the sender about a
 * misbehaving server; Apple's refuses some placeholders, so production sets
 * BADGESYNC_VAPID_SUBJECT (the server logs a warning until it does).
 */
export const DEFAULT_VAPID_SUBJECT = 'mailto:webpush@badgesync.invalid';

const PUBLIC_META = 'generated_vapid_public_key';
const PRIVATE_META = 'generated_vapid_private_key';

/** A configuration error: the server does not start (exit 2, like any bad setting). */
export class VapidKeyError extends ConfigError {}

/** Resolves the pair; rejects with VapidKeyError for half a configured pair, a malformed key or subject. */
export async function resolveVapidKeys(store: Asynchronous<MetaStore>, settings: VapidSettings): Promise<VapidKeys> {
  const subject = settings.vapidSubject ?? DEFAULT_VAPID_SUBJECT;
  if (!/^(?:mailto:.+|https:\/\/.+)$/.test(subject)) {
    throw new VapidKeyError(`BADGESYNC_VAPID_SUBJECT must be a mailto: or https: URL, got ${JSON.stringify(subject)}`);
  }
  // `?? null`: configurations built in code (tests) may leave the fields out.
  const publicKey = settings.vapidPublicKey ?? null;
  const privateKey = settings.vapidPrivateKey ?? null;
  if ((publicKey === null) !== (privateKey === null)) {
    const missing = publicKey === null ? 'BADGESYNC_VAPID_PUBLIC_KEY' : 'BADGESYNC_VAPID_PRIVATE_KEY';
    throw new VapidKeyError(`both VAPID keys are configured together, but ${missing} is not set`);
  }
  if (publicKey !== null && privateKey !== null) {
    checkPair(publicKey, privateKey);
    return { publicKey, privateKey, subject, generated: false };
  }
  const storedPublic = await store.getMeta(PUBLIC_META);
  const storedPrivate = await store.getMeta(PRIVATE_META);
  if (storedPublic !== null && storedPrivate !== null) {
    return { publicKey: storedPublic, privateKey: storedPrivate, subject, generated: false };
  }
  // [STORE-30] The private key is claimed (nodes of a cluster starting together on one database
  // each generate one; the first stored wins for all), and the public key derived from it, so
  // no node can pair its own public key with another node's private one.
  const fresh = generateVapidKeys();
  const keptPrivate = await store.claimMeta(PRIVATE_META, fresh.privateKey);
  const keptPublic = await store.claimMeta(PUBLIC_META, publicKeyOf(keptPrivate));
  return { publicKey: keptPublic, privateKey: keptPrivate, subject, generated: keptPrivate === fresh.privateKey };
}

/** The uncompressed public point (base64url) of a 32-byte P-256 private scalar (base64url). */
function publicKeyOf(privateKey: string): string {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
  return ecdh.getPublicKey().toString('base64url');
}

/** A new P-256 pair in the encodings VAPID uses (what `web-push generate-vapid-keys` prints). */
export function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    publicKey: ecdh.getPublicKey().toString('base64url'),
    // Node drops leading zero bytes of the scalar (1 in 256 keys): VAPID wants all 32.
    privateKey: Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()])
      .subarray(-32)
      .toString('base64url'),
  };
}

/** The private key must be the public key's: a mismatch would sign JWTs no subscription accepts. */
function checkPair(publicKey: string, privateKey: string): void {
  const priv = Buffer.from(privateKey, 'base64url');
  const pub = Buffer.from(publicKey, 'base64url');
  if (priv.length !== 32 || pub.length !== 65 || pub[0] !== 4) {
    throw new VapidKeyError(
      'VAPID keys must be base64url: a 65-byte uncompressed public key and a 32-byte private key',
    );
  }
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(priv);
  } catch {
    throw new VapidKeyError('BADGESYNC_VAPID_PRIVATE_KEY is not a P-256 private key');
  }
  if (!ecdh.getPublicKey().equals(pub)) {
    throw new VapidKeyError('BADGESYNC_VAPID_PUBLIC_KEY is not the public key of BADGESYNC_VAPID_PRIVATE_KEY');
  }
}
