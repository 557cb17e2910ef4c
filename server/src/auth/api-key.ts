import { createHash, timingSafeEqual } from 'node:crypto';

/** The bearer credential of a request, or null. */
export function bearer(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? (match[1] as string) : null;
}

/**
 * Constant-time comparison of a presented API key with the configured one (SPEC AUTH-5).
 * Both are hashed first: `timingSafeEqual` needs equal lengths, and comparing lengths before
 * it would tell a caller how long the key is.
 */
export function isApiKey(presented: string | null, apiKey: string): boolean {
  if (presented === null) return false;
  return timingSafeEqual(digest(presented), digest(apiKey));
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
