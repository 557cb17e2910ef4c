/**
 * Every error code badgesync answers with, in one catalogue (SPEC ERR-1). HTTP errors are
 * `{"error": {"code", "message"}}`; write-rule refusals name a reason that becomes the
 * close reason and a metrics label. docs/ERRORS.md documents each; a test checks that
 * every code here appears there.
 */

/** HTTP error codes of the backend API, with their status. */
export const HttpError = {
  unauthorized: { status: 401, message: 'missing or invalid credentials' },
  forbidden: { status: 403, message: 'these credentials may not do this' },
  not_found: { status: 404, message: 'no such route' },
  method_not_allowed: { status: 405, message: 'method not allowed on this route' },
  invalid_json: { status: 400, message: 'the body is not valid JSON' },
  invalid_body: { status: 400, message: 'the body does not match the schema' },
  invalid_target: { status: 400, message: 'the request target is not a path or an http(s) URL' },
  bad_request: { status: 400, message: 'not a well-formed HTTP/1.1 request' },
  invalid_handshake: { status: 400, message: 'not a valid WebSocket upgrade request' },
  request_timeout: { status: 408, message: 'the request did not arrive in time' },
  headers_too_large: { status: 431, message: 'the request line and headers are too large' },
  invalid_id: { status: 400, message: 'an ID in the path does not match ^[A-Za-z0-9_.:@-]{1,128}$' },
  topic_not_allowed: { status: 400, message: 'the topic is not one this server is configured to push to' },
  endpoint_not_allowed: { status: 400, message: 'the Web Push endpoint is not on a push service this server posts to' },
  payload_too_large: { status: 413, message: 'the body is too large' },
  unsupported_media_type: { status: 415, message: 'send application/json' },
  budget_exceeded: { status: 422, message: 'the account is at one of its budgets (docs/ERRORS.md)' },
  rate_limited: { status: 429, message: 'too many requests, try later' },
  overloaded: { status: 503, message: 'overloaded, try later' },
  too_many_connections: { status: 503, message: 'too many connections, try later' },
  shutting_down: { status: 503, message: 'the server is shutting down' },
  internal: { status: 500, message: 'internal error' },
} as const;
export type HttpErrorCode = keyof typeof HttpError;

/** The JSON body of every HTTP error. */
export interface ErrorBody {
  readonly error: { readonly code: HttpErrorCode; readonly message: string };
}

export function errorBody(code: HttpErrorCode, message?: string): ErrorBody {
  return { error: { code, message: message ?? HttpError[code].message } };
}

/** Why the write rules refused an update (close 4403, 4400 for `malformed`, 4410 for `v1_document`). */
export const RefusalReason = {
  malformed: 'not a decodable Yjs update',
  v1_document: 'holds contract-v1 content (heads/reads/mutes maps): drop the replica and sync afresh',
  not_array_entry:
    'an item that is not an element of one v2 array (origins in two arrays, or in a garbage-collected struct)',
  lower_mute: 'lowers a mute stamp',
  mute_too_far: 'a mute counter too far above the thread mute counter',
  unknown_root: 'names a top-level type that is not v2/heads or v2/device/<id>',
  nested_type: 'creates or writes inside a nested shared type',
  heads_by_device: 'v2/heads is written by the server only',
  foreign_marker: "writes or deletes in another device's array (or @server's)",
  invalid_key: 'an entry key that is not a thread ID or m/<thread ID>',
  invalid_value: 'a value of the wrong type or range',
  lower_marker: 'lowers a read marker',
  deleted_marker: 'deletes every entry of a key without a replacement',
  epoch_too_far: 'a marker epoch too far above the thread epoch',
  seq_beyond_head: 'a marker seq beyond the thread head',
  foreign_client_id: 'writes under a Yjs client ID bound to another device',
  client_budget: 'uses more new Yjs client IDs than the budget allows (per update, device or account)',
  concurrent_writes: 'more concurrent writes of one key than the budget allows',
  key_budget: 'more muted threads or marker keys in the account than the budget allows',
} as const;
export type RefusalReason = keyof typeof RefusalReason;

/**
 * Why an awareness entry was not relayed, without closing the connection (SPEC AWARE-2…
 * AWARE-4): a metrics label of `badgesync_awareness_dropped_total`.
 */
export const AwarenessDropReason = {
  foreign_awareness_id: 'under a Yjs client ID bound to another device or the server',
  other_connection: 'under a client ID another connection of the same device holds',
  account_bytes: "beyond the account's awareness byte budget",
  account_clients: "beyond the account's 256 awareness client IDs",
  connection_states: 'beyond the states one connection may hold',
} as const;
export type AwarenessDropReason = keyof typeof AwarenessDropReason;

/**
 * Why a node refused a message of the cluster's update bus (SPEC CLUSTER-2): the frame is
 * dropped and logged, never applied; the account's gap repair fetches the update from the
 * database instead. A metrics and log label, never sent to a client.
 */
export const BusFrameError = {
  truncated: 'the frame ends before a field it announces',
  unsupported_version: 'a frame version this node does not know (a newer node during a rolling upgrade)',
  invalid_origin: 'an origin node ID that is empty, too long or not printable ASCII',
  invalid_account: 'an account ID that does not match the ID pattern',
  invalid_seq: 'a seq that is not a whole number from 1 to 2^53 − 1',
  update_too_large: 'an update length above the limit',
  trailing_bytes: 'bytes after the update',
} as const;
export type BusFrameErrorCode = keyof typeof BusFrameError;
