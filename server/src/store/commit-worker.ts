/**
 * The commit thread's entry (SPEC STORE-17, docs/ARCHITECTURE.md): a worker that owns a
 * connection of its own to each SQLite file it is sent batches for, and writes each batch in
 * one transaction with its fsync, off the event loop. It answers each batch by its id once the
 * transaction returned (durable), or with the error that stopped it (nothing written).
 */
import { parentPort } from 'node:worker_threads';
import { blockFor } from '../test-hooks.js';
import type { CommitReply, CommitRequest } from './commit-messages.js';
import { unpackUpdates } from './commit-updates.js';
import { SqliteStore } from './sqlite-store.js';
import type { WriteBatch } from './write-batch.js';

const port = parentPort;
if (port === null) throw new Error('commit-worker.ts runs as a worker thread only');

const stores = new Map<string, SqliteStore>();

function storeFor(path: string): SqliteStore {
  let store = stores.get(path);
  if (store === undefined) {
    store = new SqliteStore(path, { commitThread: false });
    stores.set(path, store);
  }
  return store;
}

port.on('message', (request: CommitRequest) => {
  if (request.kind === 'ping') {
    port.postMessage({ id: request.id, error: null } satisfies CommitReply);
    return;
  }
  if (request.kind === 'close') {
    stores.get(request.path)?.close();
    stores.delete(request.path);
    return;
  }
  let reply: CommitReply;
  try {
    // [OPS-5] Held before the transaction starts: the lock stays free for the event loop's own
    // writes, and whatever waits for this batch waits the whole hold.
    blockFor(request.holdMs);
    const store = storeFor(request.path);
    // [STORE-18] The mark in the same transaction: a reader of the file knows it holds this batch.
    const { counts, bindings, idempotency, push } = request.batch;
    const batch: WriteBatch = { updates: unpackUpdates(request.updates), counts, bindings, idempotency };
    store.commitMarked(push === undefined ? batch : { ...batch, push }, `${request.epoch}:${request.id}`);
    reply = { id: request.id, error: null };
  } catch (err) {
    const e = err as { message?: unknown; code?: unknown; name?: unknown };
    reply = {
      id: request.id,
      error: {
        name: typeof e.name === 'string' ? e.name : 'Error',
        message: typeof e.message === 'string' ? e.message : String(err),
        code: typeof e.code === 'string' ? e.code : null,
      },
    };
  }
  port.postMessage(reply);
});
