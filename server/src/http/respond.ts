import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, HttpError, type HttpErrorCode } from '@badgesync/shared';

/** An error the API answers in the contract's shape (SPEC API-1). */
export class ApiError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message?: string,
    /** Sent as `Retry-After` (SPEC EDGE-4); `overloaded` has a default. */
    readonly retryAfterSeconds: number | undefined = code === 'overloaded' ? OVERLOADED_RETRY_AFTER_S : undefined,
  ) {
    super(message ?? HttpError[code].message);
  }

  get status(): number {
    return HttpError[this.code].status;
  }
}

/** [EDGE-1] The client hung up or stalled before its request arrived whole. */
export class ClientAbort extends ApiError {
  constructor() {
    super('bad_request', 'the request did not arrive whole');
  }
}

/**
 * `Retry-After` of a `503 overloaded`: the cap of loaded documents frees up when an account
 * goes idle, which no limiter predicts. 5 s spreads the retries of a crowd of clients (which
 * add their own jitter) without keeping a device from its badge for long.
 */
export const OVERLOADED_RETRY_AFTER_S = 5;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string | number>> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  err: ApiError,
  extraHeaders: Readonly<Record<string, string | number>> = {},
): void {
  const headers: Record<string, string | number> = { ...extraHeaders };
  if (err.retryAfterSeconds !== undefined) headers['retry-after'] = err.retryAfterSeconds;
  // Refused before its body was read (too large, unauthorised, …): the connection closes after
  // the answer, instead of Node reading and discarding up to the whole declared body, and
  // nothing left of that body is ever read as the next request.
  if (res.req !== undefined && hasUnreadBody(res.req)) headers.connection = 'close';
  sendJson(res, err.status, errorBody(err.code, err.message), headers);
}

function hasUnreadBody(req: IncomingMessage): boolean {
  const declared = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  return declared && !req.complete;
}

/**
 * Largest request body: the biggest valid body (a device registration) is a few hundred
 * bytes; 64 KiB leaves room for growth and keeps a slow-loris body from holding memory.
 */
export const MAX_BODY_BYTES = 64 * 1024;

/** Reads and parses a JSON body (415 when not JSON, 413 when too large, 400 when unparsable). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) throw new ApiError('unsupported_media_type');
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new ApiError('payload_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw new ApiError('payload_too_large');
      chunks.push(chunk);
    }
  } catch (err) {
    // The client went away or timed out mid-body: its error, not the server's ([EDGE-1]).
    if (err instanceof ApiError) throw err;
    throw new ClientAbort();
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError('invalid_json');
  }
}
