import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, HttpError, type HttpErrorCode } from '@badgesync/shared';

/** An error the API answers in the contract's shape (SPEC API-1). */
export class ApiError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message?: string,
  ) {
    super(message ?? HttpError[code].message);
  }

  get status(): number {
    return HttpError[this.code].status;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, errorBody(err.code, err.message));
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
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new ApiError('payload_too_large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError('invalid_json');
  }
}
