/** Push registration through the contract's `PUT /v1/accounts/{a}/devices/{d}` (SPEC SDK-9). */

/** What registerPush sends: the body of `PUT /v1/accounts/{a}/devices/{d}`. */
export interface PushRegistration {
  /** The APNs device token, hex. */
  readonly apnsToken: string;
  /** Which APNs environment the token belongs to. */
  readonly environment: 'production' | 'sandbox';
  /** The app's bundle id, when it differs from the server's configured topic. */
  readonly topic?: string;
  /** Whether the server should push badges to this device (false: it keeps the token but stays silent). */
  readonly badges: boolean;
}

/** The device as the server stored it. */
export interface RegisteredDevice {
  readonly device: string;
  readonly apnsToken: string | null;
  readonly environment: string | null;
  readonly topic: string | null;
  readonly badges: boolean;
  readonly tokenInvalidReason: string | null;
}

/** The little of `fetch` the SDK uses. */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

/** A backend API call answered with an error (`{"error": {"code", "message"}}`). */
export class BadgeSyncHttpError extends Error {
  override readonly name = 'BadgeSyncHttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

/** Calls one device route with the device token as bearer; throws BadgeSyncHttpError on an error answer. */
export async function deviceRequest(
  fetchImpl: FetchLike,
  url: string,
  method: 'PUT' | 'DELETE',
  token: string,
  body?: unknown,
): Promise<unknown> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetchImpl(url, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (res.status >= 200 && res.status < 300) return parsed;
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  throw new BadgeSyncHttpError(
    res.status,
    typeof error?.code === 'string' ? error.code : 'http_error',
    typeof error?.message === 'string' ? error.message : text.slice(0, 200),
  );
}

/** The JSON body for a registration: only the fields the app gave. */
export function registrationBody(registration: PushRegistration): Record<string, unknown> {
  return {
    apnsToken: registration.apnsToken,
    environment: registration.environment,
    badges: registration.badges,
    ...(registration.topic === undefined ? {} : { topic: registration.topic }),
  };
}
