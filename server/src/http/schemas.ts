/** One schema per request body (SPEC API-2..API-6), validated at the boundary. */
import { ID_PATTERN, MAX_SEQ } from '@badgesync/shared';
import { z } from 'zod';

const threadId = z.string().regex(ID_PATTERN, 'a thread ID matches ^[A-Za-z0-9_.:@-]{1,128}$');

/** Items one POST may add: 10,000 keeps one request's effect (and its push) human-sized. */
export const MAX_ITEMS_PER_POST = 10_000;

export const ItemsBody = z.strictObject({
  thread: threadId,
  count: z.number().int().min(1).max(MAX_ITEMS_PER_POST).optional(),
  idempotencyKey: z.string().min(1).max(256).optional(),
});
export type ItemsBody = z.infer<typeof ItemsBody>;

export const ReadBody = z.strictObject({
  thread: threadId,
  seq: z.number().int().min(0).max(MAX_SEQ),
});
export type ReadBody = z.infer<typeof ReadBody>;

export const DeviceBody = z.strictObject({
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
