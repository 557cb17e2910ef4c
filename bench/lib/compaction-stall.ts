/**
 * The compaction sweep under load: many loaded rooms that reach the compaction threshold
 * together, and how long the sweep that compacts them blocks the event loop.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqliteStore } from '@badgesync/server';
import {
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  packMarker,
  parseAccountId,
  parseDeviceId,
  SERVER_DEVICE,
} from '@badgesync/shared';
import type { WebSocket } from 'ws';
import * as Y from 'yjs';
import { COMPACT_AFTER_UPDATES, UNLOAD_SWEEP_MS } from '../../server/src/rooms/room-manager.js';
import { tempDir } from './children.js';
import { startServer } from './servers.js';
import { openRawDevice } from './sync-clients.js';
import { SyncType, syncFrame } from './sync-frames.js';

/** The room manager's sweep interval: the sweep that compacts runs this long after start. */
const SWEEP_MS = UNLOAD_SWEEP_MS;
/** How often the probe asks: fine enough to see a stall of tens of milliseconds. */
const PROBE_MS = 20;

export interface CompactionFigures {
  readonly rooms: number;
  /** Longest probe round trip (ms) while the rooms were loaded and due, before the sweep. */
  readonly baselineMaxMs: number;
  /** Longest probe round trip (ms) around the sweep (15 s after start) that compacts them. */
  readonly sweepMaxMs: number;
  /** Every probe: ms since the server listened, its round trip, and which window it is in. */
  readonly timeline: Array<{ atMs: number; roundTripMs: number; phase: 'baseline' | 'due' }>;
}

/**
 * Rooms written at the same rate reach COMPACT_AFTER_UPDATES (500 log entries) together,
 * and the 15 s sweep then compacts each in turn, one fsync'd transaction per room, on the
 * event loop. Seeds `rooms` accounts with 499 log entries each, loads them (one connection
 * each), makes every one due with one marker write, and times a probe's round trips (a sync
 * step 1 answered by a step 2) before and through the next sweep.
 */
export async function compactionStall(rooms: number): Promise<CompactionFigures> {
  const dir = tempDir('badgesync-bench-compaction-');
  const server0 = new Y.Doc();
  const heads: Uint8Array[] = [];
  server0.on('update', (u: Uint8Array) => heads.push(u));
  new KeyValueArray(server0, HEADS_ROOT).set('inbox', 10_000);
  const device0 = new Y.Doc();
  Y.applyUpdate(device0, heads[0] as Uint8Array);
  const marks: Uint8Array[] = [];
  device0.on('update', (u: Uint8Array) => marks.push(u));
  // The heads update and COMPACT_AFTER_UPDATES − 2 markers: one entry short of due. Each is a
  // v2 set in dev-0's own array: the previous entry deleted, the new one pushed (SPEC DOC-13).
  const markers0 = new KeyValueArray(device0, deviceRoot(parseDeviceId('dev-0')));
  for (let seq = 1; seq <= COMPACT_AFTER_UPDATES - 2; seq++) markers0.set('inbox', packMarker(0, seq));
  const log499 = [heads[0] as Uint8Array, ...marks];
  const store = new SqliteStore(path.join(dir, 'badgesync.db'));
  try {
    for (let start = 0; start < rooms; start += 100) {
      const accounts = Array.from({ length: Math.min(100, rooms - start) }, (_, i) =>
        parseAccountId(`due-${start + i}`),
      );
      store.commit({
        updates: accounts.flatMap((account) => log499.map((update) => ({ account, update }))),
        counts: [],
        bindings: accounts.flatMap((account) => [
          { account, clientId: server0.clientID, device: SERVER_DEVICE },
          { account, clientId: device0.clientID, device: parseDeviceId('dev-0') },
        ]),
        idempotency: [],
      });
    }
  } finally {
    store.close();
  }
  // The write that makes a room due: another device's first marker (its own array, seq ≤ head).
  const device1 = new Y.Doc();
  const due: Uint8Array[] = [];
  device1.on('update', (u: Uint8Array) => due.push(u));
  new KeyValueArray(device1, deviceRoot(parseDeviceId('dev-1'))).set('inbox', packMarker(0, 1));
  const server = await startServer('badgesync', { dir });
  const listening = performance.now();
  const timeline: CompactionFigures['timeline'] = [];
  const sockets: WebSocket[] = [];
  try {
    const devices: Array<Awaited<ReturnType<typeof openRawDevice>>> = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < rooms) {
          const i = next++;
          devices.push(await openRawDevice(server, `due-${i}`, 'dev-1'));
        }
      }),
    );
    for (const d of devices) sockets.push(d.ws);
    // A probe on an account of its own: a step 1 every PROBE_MS, answered once the server
    // has handled everything before it; its round trip is how long the server was away.
    const probe = await openRawDevice(server, 'probe', 'probe-d0');
    sockets.push(probe.ws);
    await Promise.all(
      devices.map(async (d) => {
        d.ws.send(syncFrame(SyncType.update, due[0] as Uint8Array));
        await d.acked();
      }),
    );
    // The sweep runs 15 s after the server started (its timer starts just before it listens):
    // samples until then are the baseline (the same rooms, due but not yet swept).
    while (performance.now() - listening < SWEEP_MS + 2_500) {
      const sent = performance.now();
      await probe.acked();
      const atMs = sent - listening;
      timeline.push({ atMs, roundTripMs: performance.now() - sent, phase: atMs < SWEEP_MS - 500 ? 'baseline' : 'due' });
      await sleep(PROBE_MS);
    }
    const max = (phase: 'baseline' | 'due') =>
      Math.max(...timeline.filter((t) => t.phase === phase).map((t) => t.roundTripMs));
    return { rooms, baselineMaxMs: max('baseline'), sweepMaxMs: max('due'), timeline };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
