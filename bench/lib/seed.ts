/**
 * Writes stored accounts straight into a badgesync SQLite file through the server's own
 * SqliteStore, thousands per transaction: each account is one Yjs update holding what a
 * lived-in account holds in contract v2's layout (SPEC DOC-7..DOC-13): the heads of a few
 * threads in `v2/heads`, written by the server, and a read marker per thread in each
 * device's own array `v2/device/<device>`, each writer under its own client ID, with the
 * derived counts and client bindings, as the server would have stored them. Much faster
 * than the API (one fsync per account).
 */
import { statSync } from 'node:fs';
import { SqliteStore, type WriteBatch } from '@badgesync/server';
import {
  type AccountId,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  packMarker,
  parseAccountId,
  parseDeviceId,
  SERVER_DEVICE,
} from '@badgesync/shared';
import * as Y from 'yjs';

export interface SeedOptions {
  readonly count: number;
  /** Account IDs are `${prefix}${i}`. */
  readonly prefix: string;
  readonly threads: number;
  readonly devices: number;
  /** Accounts per transaction. */
  readonly batch?: number;
}

interface Template {
  readonly update: Uint8Array;
  readonly counts: ReturnType<typeof deriveCounts>;
  readonly bindings: ReadonlyArray<{ clientId: number; device: DeviceId }>;
}

/** Different templates so not every account stores identical bytes (clients, values). */
const TEMPLATES = 16;

/** Device IDs of seeded account `account`: `${account}-d${j}`. */
export function seededDevice(account: string, j: number): string {
  return `${account}-d${j}`;
}

function template(variant: number, options: SeedOptions): Template {
  const server = new Y.Doc();
  const bindings: Array<{ clientId: number; device: DeviceId }> = [
    { clientId: server.clientID, device: SERVER_DEVICE },
  ];
  const heads = new KeyValueArray(server, HEADS_ROOT);
  server.transact(() => {
    for (let t = 0; t < options.threads; t++) heads.set(`thread-${t}`, 20 + ((variant * 7 + t * 3) % 40));
  });
  const doc = new Y.Doc();
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(server));
  for (let j = 0; j < options.devices; j++) {
    const device = new Y.Doc();
    Y.applyUpdate(device, Y.encodeStateAsUpdate(doc));
    // The device ID in the array's name is the template's; per account it would differ in
    // text only, which changes the stored size by a few bytes.
    const id = parseDeviceId(`dev-${j}`);
    const markers = new KeyValueArray(device, deviceRoot(id));
    device.transact(() => {
      for (let t = 0; t < options.threads; t++)
        markers.set(`thread-${t}`, packMarker(0, 10 + ((variant + j + t) % 10)));
    });
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(device));
    bindings.push({ clientId: device.clientID, device: id });
  }
  return { update: Y.encodeStateAsUpdate(doc), counts: deriveCounts(doc), bindings };
}

/** Seeds `options.count` accounts into the database at `db` (created when missing). */
export function seedAccounts(
  db: string,
  options: SeedOptions,
): { accounts: string[]; ms: number; bytesPerUpdate: number } {
  const began = performance.now();
  const templates = Array.from({ length: TEMPLATES }, (_, v) => template(v, options));
  const batchSize = options.batch ?? 5_000;
  const store = new SqliteStore(db);
  const accounts: string[] = [];
  try {
    for (let start = 0; start < options.count; start += batchSize) {
      const updates: Array<{ account: AccountId; update: Uint8Array }> = [];
      const counts: Array<{ account: AccountId; counts: Template['counts'] }> = [];
      const bindings: Array<{ account: AccountId; clientId: number; device: DeviceId }> = [];
      for (let i = start; i < Math.min(options.count, start + batchSize); i++) {
        const account = parseAccountId(`${options.prefix}${i}`);
        const t = templates[i % TEMPLATES] as Template;
        accounts.push(account);
        updates.push({ account, update: t.update });
        counts.push({ account, counts: t.counts });
        for (const b of t.bindings) bindings.push({ account, ...b });
      }
      const batch: WriteBatch = { updates, counts, bindings, idempotency: [] };
      store.commit(batch);
    }
  } finally {
    store.close();
  }
  const bytesPerUpdate = templates.reduce((sum, t) => sum + t.update.byteLength, 0) / templates.length;
  return { accounts, ms: performance.now() - began, bytesPerUpdate };
}

/** Bytes of a SQLite database on disk: the file, its WAL and shared-memory index. */
export function sqliteFileBytes(db: string): number {
  let bytes = 0;
  for (const file of [db, `${db}-wal`, `${db}-shm`]) {
    try {
      bytes += statSync(file).size;
    } catch {}
  }
  return bytes;
}
