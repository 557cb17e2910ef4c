import { timingSafeEqual } from 'node:crypto';

/** The bearer credential of a request, or null. */
export function bearer(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? (match[1] as string) : null;
}

/** Constant-time comparison of a presented API key with the configured one (SPEC AUTH-5). */
export function isApiKey(presented: string | null, apiKey: string): boolean {
  if (presented === null) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(apiKey);
  return a.length === b.length && timingSafeEqual(a, b);
}
