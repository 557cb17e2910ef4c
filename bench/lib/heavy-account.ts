/**
 * One heavy account: many marker updates through the real sync path, then what the server
 * stores for it after compaction, and what a new device's first sync of it costs. Each
 * update is a v2 marker write (SPEC DOC-13): `KeyValueArray.set` in the device's own array,
 * the device's previous entry of the thread deleted and the new one pushed.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { SqliteStore } from '@badgesync/server';
import {
  DEVICE_ROOT_PREFIX,
  deviceRoot,
  isDeviceEntry,
  KeyValueArray,
  packMarker,
  parseAccountId,
  parseDeviceId,
  parseEntryKey,
  unpackMarker,
} from '@badgesync/shared';
import * as Y from 'yjs';
import { tempDir } from './children.js';
import { sqliteFileBytes } from './seed.js';
import { api, startServer } from './servers.js';
import { openRawDevice, timeProviderSync } from './sync-clients.js';
import { SyncType, syncFrame } from './sync-frames.js';

export interface HeavyAccountOptions {
  readonly updates: number;
  readonly devices: number;
  readonly threads: number;
  /**
   * Updates one device sends per connection. badgesync allows a burst of 1,000 messages per
   * connection (then 200/s: session.ts); a device that reconnects, as phones do all day,
   * starts with a fresh burst.
   */
  readonly perSession: number;
}

export interface HeavyAccountFigures {
  readonly updates: number;
  readonly sentBytes: number;
  readonly storedBytes: number;
  readonly snapshotBytes: number;
  readonly logEntries: number;
  readonly fileBytes: number;
  readonly ms: number;
  readonly lost: number;
  /** The whole document as one update: what a device syncing from scratch downloads. */
  readonly stateBytes: number;
  /** A fresh device's sync of this account, unloaded (first) and loaded (second). */
  readonly firstSyncMs: number;
  readonly secondSyncMs: number;
}

/** `updates` marker writes on one account through the sync path; then the stored bytes. */
export async function heavyAccount(options: HeavyAccountOptions): Promise<HeavyAccountFigures> {
  const { updates: UPDATES, perSession } = options;
  const dir = tempDir('badgesync-bench-storage-');
  const account = 'heavy-user';
  const threads = Array.from({ length: options.threads }, (_, t) => `thread-${t}`);
  const perKey = Math.ceil(UPDATES / (options.devices * options.threads));
  const server = await startServer('badgesync', { dir });
  const began = performance.now();
  let sentBytes = 0;
  let sent = 0;
  try {
    for (const thread of threads) {
      for (let head = 0; head < perKey; head += 10_000) {
        await api(server, 'POST', `/v1/accounts/${account}/items`, { thread, count: Math.min(10_000, perKey - head) });
      }
    }
    const writers = Array.from({ length: options.devices }, (_, d) => ({
      device: `heavy-d${d}`,
      doc: new Y.Doc(),
      seq: 0,
    }));
    const share = Math.ceil(UPDATES / writers.length);
    await Promise.all(
      writers.map(async (writer, w) => {
        const markers = new KeyValueArray(writer.doc, deviceRoot(parseDeviceId(writer.device)));
        let mine = Math.min(share, UPDATES - w * share);
        while (mine > 0) {
          const { ws, acked } = await openRawDevice(server, account, writer.device);
          const n = Math.min(perSession, mine);
          const updates: Uint8Array[] = [];
          const listen = (update: Uint8Array) => updates.push(update);
          writer.doc.on('update', listen);
          for (let i = 0; i < n; i++) {
            // Round-robin over the threads: one marker per update, each higher than before.
            const thread = threads[writer.seq % threads.length] as string;
            const seq = Math.floor(writer.seq / threads.length) + 1;
            markers.set(thread, packMarker(0, seq));
            writer.seq++;
          }
          writer.doc.off('update', listen);
          for (const update of updates) {
            sentBytes += update.byteLength;
            ws.send(syncFrame(SyncType.update, update));
          }
          sent += n;
          mine -= n;
          await acked();
          ws.close();
        }
      }),
    );
  } finally {
    await server.stop({ keepDir: true });
  }
  const ms = performance.now() - began;
  // The server compacts a loaded room every 15 s once its log has 500 entries, and on an idle
  // unload, but not at shutdown: what is stored is the last snapshot plus the log after it.
  // Read what it left.
  try {
    const store = new SqliteStore(path.join(dir, 'badgesync.db'));
    let stored: ReturnType<SqliteStore['loadDoc']>;
    try {
      stored = store.loadDoc(parseAccountId(account));
    } finally {
      store.close();
    }
    const doc = new Y.Doc();
    for (const update of stored.updates) Y.applyUpdate(doc, update);
    // Every write must be there: the sum of the final seqs equals the writes per key. Each
    // writer has one live entry per thread (one session at a time), its latest marker.
    let applied = 0;
    for (const root of [...doc.share.keys()].filter((name) => name.startsWith(DEVICE_ROOT_PREFIX))) {
      for (const entry of doc.getArray<unknown>(root).toArray()) {
        if (isDeviceEntry(entry) && parseEntryKey(entry.key)?.kind === 'marker') applied += unpackMarker(entry.val).seq;
      }
    }
    const storedBytes = stored.updates.reduce((sum, u) => sum + u.byteLength, 0);
    const snapshotBytes = stored.logCount === stored.updates.length ? 0 : (stored.updates[0]?.byteLength ?? 0);
    // What that costs a device that syncs this account from scratch (a reinstall, a new phone).
    const again = await startServer('badgesync', { dir });
    let firstSyncMs: number;
    let secondSyncMs: number;
    try {
      firstSyncMs = await timeProviderSync(again, account, 'heavy-new-phone');
      secondSyncMs = await timeProviderSync(again, account, 'heavy-new-tablet');
    } finally {
      await again.stop({ keepDir: true });
    }
    return {
      updates: sent,
      sentBytes,
      storedBytes,
      snapshotBytes,
      logEntries: stored.logCount,
      fileBytes: sqliteFileBytes(path.join(dir, 'badgesync.db')),
      ms,
      lost: sent - applied,
      stateBytes: Y.encodeStateAsUpdate(doc).byteLength,
      firstSyncMs,
      secondSyncMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
