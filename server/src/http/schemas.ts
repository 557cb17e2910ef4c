/** One schema per request body (SPEC API-2..API-6), validated at the boundary. */
import { ID_PATTERN, MAX_SEQ } from '@badgesync/shared';
import { z } from 'zod';

const threadId = z.string().regex(ID_PATTERN, 'a thread ID matches ^[A-Za-z0-9_.:@-]{1,128}$');

/** Items one POST may add: 10,000 keeps one request's effect (and its push) human-sized. */
export const MAX_ITEMS_PER_POST = 10_000;

/** A C0 control character or DEL anywhere in `text`. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

export const ItemsBody = z.strictObject({
  thread: threadId,
  count: z.number().int().min(1).max(MAX_ITEMS_PER_POST).optional(),
  // No control characters: a key is an opaque token, and PostgreSQL's text (the cluster store)
  // cannot hold a NUL, so one would fail the whole commit it rides in (API-2).
  idempotencyKey: z
    .string()
    .min(1)
    .max(256)
    .refine((key) => !hasControlCharacter(key), 'an idempotency key holds no control characters')
    .optional(),
});
export type ItemsBody = z.infer<typeof ItemsBody>;

export const ReadBody = z.strictObject({
  thread: threadId,
  seq: z.number().int().min(0).max(MAX_SEQ),
});
export type ReadBody = z.infer<typeof ReadBody>;

/**
 * [API-14] The APNs registration of v1, with or without `platform: "apns"`. Without
 * `platform` a body is this one, so every v1 body keeps its meaning.
 */
const ApnsDeviceBody = z.strictObject({
  platform: z.literal('apns'),
  apnsToken: z
    .string()
    .regex(/^[0-9a-fA-F]{16,200}$/, 'an APNs token is 16–200 hex digits')
    .optional(),
  environment: z.enum(['production', 'sandbox']).optional(),
  topic: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,200}$/, 'a topic is a bundle id')
    .optional(),
  badges: z.boolean().optional(),
});

/**
 * FCM tokens are opaque (about 160 characters of `[A-Za-z0-9_:-]` today) and Google says not
 * to assume a length: 4096 keeps garbage out of the store's keys without guessing.
 */
export const MAX_FCM_TOKEN_LENGTH = 4096;
const FcmDeviceBody = z.strictObject({
  platform: z.literal('fcm'),
  fcmToken: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]+$/, 'an FCM token is letters, digits and _ : . -')
    .max(MAX_FCM_TOKEN_LENGTH),
  badges: z.boolean().optional(),
});

/**
 * Push services' endpoints are well under 1 KiB (FCM's, Mozilla's, Apple's, Microsoft's);
 * 2048 is the longest URL every browser keeps, and bounds the store's key.
 */
export const MAX_ENDPOINT_LENGTH = 2048;
/** The server POSTs every push to the endpoint: only https, and no credentials in the URL. */
const endpoint = z
  .string()
  .max(MAX_ENDPOINT_LENGTH)
  .refine((value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'https:' && url.username === '' && url.password === '' && url.hash === '';
    } catch {
      return false;
    }
  }, 'an endpoint is an https URL without credentials or fragment');

/** Base64url of exactly `bytes` bytes (padding allowed, as some browsers send it). */
function base64url(bytes: number, what: string) {
  const chars = Math.ceil((bytes * 4) / 3);
  return z
    .string()
    .regex(new RegExp(`^[A-Za-z0-9_-]{${chars}}={0,2}$`), `${what} is ${bytes} bytes of base64url`)
    .refine((value) => Buffer.from(value, 'base64url').length === bytes, `${what} is ${bytes} bytes of base64url`);
}

const WebPushDeviceBody = z.strictObject({
  platform: z.literal('webpush'),
  /** `PushSubscription.toJSON()` as the browser gives it; `expirationTime` is accepted and ignored. */
  subscription: z.strictObject({
    endpoint,
    expirationTime: z.number().nullable().optional(),
    keys: z.strictObject({
      /** The browser's P-256 public key, uncompressed: 65 bytes. */
      p256dh: base64url(65, 'p256dh').refine(
        (value) => Buffer.from(value, 'base64url')[0] === 0x04,
        'p256dh is an uncompressed P-256 point',
      ),
      /** The authentication secret: 16 bytes (RFC 8291). */
      auth: base64url(16, 'auth'),
    }),
  }),
  badges: z.boolean().optional(),
});

/** [API-5, API-14] A registration: APNs (v1 bodies, no `platform`), FCM or Web Push. */
export const DeviceBody = z.preprocess(
  (body) =>
    typeof body === 'object' && body !== null && !Array.isArray(body) && !('platform' in body)
      ? { ...body, platform: 'apns' }
      : body,
  z.discriminatedUnion('platform', [ApnsDeviceBody, FcmDeviceBody, WebPushDeviceBody]),
);
export type DeviceBody = z.infer<typeof DeviceBody>;

/** Parses with a schema; the issues become one readable message. */
export function parseBody<T>(
  schema: z.ZodType<T>,
  body: unknown,
): { ok: true; value: T } | { ok: false; message: string } {
  const result = schema.safeParse(body);
  if (result.success) return { ok: true, value: result.data };
  const message = result.error.issues
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ')
    .slice(0, 300);
  return { ok: false, message };
}
