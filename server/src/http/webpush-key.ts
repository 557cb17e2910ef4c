import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { bearer, isApiKey } from '../auth/api-key.js';
import { isRevoked, verifyDeviceToken } from '../auth/device-token.js';
import type { Metrics } from '../metrics.js';
import { corsResponseHeaders, preflight } from './cors.js';
import { ApiError, sendError, sendJson } from './respond.js';

/** The path of the VAPID public key (SPEC API-20). */
export const WEBPUSH_KEY_PATH = '/v1/push/webpush-key';

export interface WebPushKeyDeps {
  readonly publicKey: string;
  readonly apiKey: string;
  readonly deviceSecret: string;
  readonly revokedAt: (account: AccountId, device: DeviceId) => Promise<number | null>;
  readonly allowedOrigins: ReadonlySet<string>;
  readonly metrics: Metrics;
}

/**
 * [API-20] `GET /v1/push/webpush-key` answers `{"publicKey": "<base64url>"}`: the
 * `applicationServerKey` a web app passes to `pushManager.subscribe`. Either credential may
 * ask: the backend's API key (to embed the key in the app) or any valid device token (the
 * SDK in the page, which holds nothing else). Pages on BADGESYNC_CORS_ORIGINS may call it.
 */
export async function handleWebPushKey(req: IncomingMessage, res: ServerResponse, deps: WebPushKeyDeps): Promise<void> {
  if (req.method === 'OPTIONS') {
    const answer = preflight(req, ['GET'], deps.allowedOrigins);
    if (answer.kind === 'refused') {
      sendError(res, new ApiError('forbidden', answer.why), { vary: 'Origin' });
      deps.metrics.httpRequests.inc({ route: 'webpush_key_preflight', status: '403' });
      return;
    }
    res.writeHead(204, answer.kind === 'allowed' ? answer.headers : { allow: 'GET, OPTIONS' });
    res.end();
    deps.metrics.httpRequests.inc({ route: 'webpush_key_preflight', status: '204' });
    return;
  }
  const cors = corsResponseHeaders(req, deps.allowedOrigins);
  let status = 200;
  try {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('method_not_allowed');
    await authenticate(req, deps);
    sendJson(res, 200, { publicKey: deps.publicKey }, { ...cors, 'cache-control': 'no-cache' });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    status = err.status;
    sendError(res, err, cors);
  }
  deps.metrics.httpRequests.inc({ route: 'webpush_key', status: String(status) });
}

async function authenticate(req: IncomingMessage, deps: WebPushKeyDeps): Promise<void> {
  const presented = bearer(req.headers.authorization);
  if (presented === null) throw new ApiError('unauthorized', 'send Authorization: Bearer <api key or device token>');
  if (isApiKey(presented, deps.apiKey)) return;
  const check = await verifyDeviceToken(presented, deps.deviceSecret);
  if (!check.ok) throw new ApiError('unauthorized');
  if (isRevoked(check.claims, await deps.revokedAt(check.claims.account, check.claims.device))) {
    throw new ApiError('unauthorized', 'the device was signed out after this token was issued');
  }
}
