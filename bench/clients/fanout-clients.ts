/**
 * A client worker of the fan-out benchmark (started by fanout.ts with an IPC channel). It
 * holds stock y-websocket providers, D per account, all of an account's devices in this one
 * process so that a write's send time and its arrival at the account's other devices are
 * read from the same clock. Requests: `open`, `step`, `close`.
 *
 * Each write is a device setting its own marker for the thread to `packMarker(0, seq)` with
 * seq 1, 2, 3, …, in its own array `v2/device/<device>` (contract v2, through shared's
 * KeyValueArray); the send time is kept by (device, seq), and every other device of the
 * account records the latency when that entry arrives in its document.
 *
 * Tokens are minted with the server's token module alone: importing @badgesync/server would
 * load the whole server, a second per worker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type AccountId,
  type DeviceId,
  deviceRoot,
  type Entry,
  KeyValueArray,
  packMarker,
  unpackMarker,
} from '@badgesync/shared';
import { WebsocketProvider } from 'y-websocket';
import * as Y from 'yjs';
import { mintDeviceToken } from '../../server/src/auth/device-token.js';
import { drain } from '../lib/drain.js';
import { serveRequests } from '../lib/ipc.js';
import { probeLoopback, sourceAddress, webSocketFrom } from '../lib/loopback.js';

export interface OpenRequest {
  readonly kind: 'badgesync' | 'reference' | 'relay';
  readonly syncUrl: string;
  readonly deviceSecret: string;
  readonly accounts: readonly string[];
  readonly devicesPerAccount: number;
  readonly thread: string;
  /** Highest seq a device may write (the thread's head on badgesync). */
  readonly maxSeq: number;
  /** Index of this worker's first connection among all workers' (for source addresses). */
  readonly connectionOffset: number;
  /** Awareness states on (set at random times over 15 s, so renewals do not coincide). */
  readonly awareness: boolean;
}

export interface OpenAnswer {
  readonly devices: number;
  readonly ready: number;
  readonly ms: number;
}

export interface StepRequest {
  /** Writes per second this worker sends. */
  readonly rate: number;
  readonly durationMs: number;
  /** Longest wait for late arrivals after the last write. */
  readonly maxDrainMs: number;
  /** A drain ends early when nothing arrives for this long. */
  readonly quietMs: number;
}

export interface StepAnswer {
  readonly sent: number;
  /** Writes the schedule asked for; more than `sent` when this process fell behind. */
  readonly planned: number;
  readonly expected: number;
  readonly received: number;
  /** Arrival latencies, ms. */
  readonly latencies: Float64Array;
  readonly sendMs: number;
  readonly drainMs: number;
  /** Connections that closed during the step, by close code. */
  readonly closes: Record<string, number>;
}

interface DeviceState {
  readonly account: string;
  readonly device: string;
  readonly key: string;
  readonly doc: Y.Doc;
  readonly thread: string;
  /** The device's own array. */
  readonly own: KeyValueArray;
  readonly provider: WebsocketProvider;
  seq: number;
  /** Send time (performance.now()) by seq; 0 for seqs not written in the current step. */
  sentAt: Float64Array;
}

/** Connections opening at once: enough to open thousands in seconds without a thundering herd. */
const CONNECT_CONCURRENCY = 64;
/** How long one connection may take to become ready before the benchmark gives up. */
const READY_TIMEOUT_MS = 60_000;
/** Most writes one timer tick sends when the schedule is behind: the loop must still yield. */
const MAX_WRITES_PER_TICK = 500;

const devices: DeviceState[] = [];
let latencies = new Float64Array(1 << 16);
let latencyCount = 0;
let received = 0;
let measuring = false;
const closes: Record<string, number> = {};

function record(latency: number): void {
  if (latencyCount === latencies.length) {
    const bigger = new Float64Array(latencies.length * 2);
    bigger.set(latencies);
    latencies = bigger;
  }
  latencies[latencyCount++] = latency;
  received++;
}

async function open(request: OpenRequest): Promise<OpenAnswer> {
  await probeLoopback();
  const began = performance.now();
  const created: DeviceState[] = [];
  let index = request.connectionOffset;
  for (const account of request.accounts) {
    const peers = new Map<string, DeviceState>();
    for (let d = 0; d < request.devicesPerAccount; d++) {
      const device = `${account}-d${d}`;
      const token = await mintDeviceToken(request.deviceSecret, account as AccountId, device as DeviceId, 24 * 3600);
      const doc = new Y.Doc();
      const provider = new WebsocketProvider(request.syncUrl, account, doc, {
        WebSocketPolyfill: webSocketFrom(sourceAddress(index++)) as unknown as typeof globalThis.WebSocket,
        params: { token },
        disableBc: true,
        connect: false,
      });
      // Awareness off: no state, so the provider sends none and never renews one.
      provider.awareness.setLocalState(null);
      provider.on('connection-close', (event) => {
        if (measuring && event) closes[event.code] = (closes[event.code] ?? 0) + 1;
      });
      const state: DeviceState = {
        account,
        device,
        key: device,
        thread: request.thread,
        doc,
        own: new KeyValueArray(doc, deviceRoot(device as DeviceId)),
        provider,
        seq: 0,
        sentAt: new Float64Array(request.maxSeq + 1),
      };
      peers.set(state.key, state);
      created.push(state);
    }
    // Each device watches every other device's array of the account for new entries.
    for (const state of peers.values()) {
      for (const writer of peers.values()) {
        if (writer === state) continue;
        state.doc.getArray<Entry>(deviceRoot(writer.device as DeviceId)).observe((event, transaction) => {
          if (transaction.origin !== state.provider || !measuring) return;
          const now = performance.now();
          for (const item of event.changes.added) {
            for (const entry of item.content.getContent() as Entry[]) {
              if (entry.key !== request.thread) continue;
              const sent = writer.sentAt[unpackMarker(entry.val).seq] ?? 0;
              if (sent > 0) record(now - sent);
            }
          }
        });
      }
    }
  }
  const isReady = (state: DeviceState) =>
    request.kind === 'relay' ? state.provider.wsconnected : state.provider.synced;
  let next = 0;
  const lane = async () => {
    while (next < created.length) {
      const state = created[next++] as DeviceState;
      state.provider.connect();
      const until = Date.now() + READY_TIMEOUT_MS;
      while (!isReady(state)) {
        if (Date.now() > until) throw new Error(`${state.device} not ready within ${READY_TIMEOUT_MS} ms`);
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, lane));
  if (request.awareness) {
    for (const state of created) {
      setTimeout(
        () => state.provider.awareness.setLocalState({ device: state.device }),
        Math.random() * 15_000,
      ).unref();
    }
  }
  devices.push(...created);
  return { devices: created.length, ready: created.filter(isReady).length, ms: performance.now() - began };
}

async function step(request: StepRequest): Promise<StepAnswer> {
  for (const state of devices) state.sentAt.fill(0);
  latencyCount = 0;
  received = 0;
  for (const code of Object.keys(closes)) delete closes[code];
  // A fresh random order each step, so no account is always first in a tick.
  const order = [...devices].sort(() => Math.random() - 0.5);
  measuring = true;
  let sent = 0;
  let cursor = 0;
  const start = performance.now();
  let planned = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const elapsed = Math.min(now - start, request.durationMs);
      planned = Math.floor((request.rate * elapsed) / 1000);
      let burst = 0;
      let exhausted = 0;
      while (sent < planned && burst < MAX_WRITES_PER_TICK && exhausted < order.length) {
        const state = order[cursor] as DeviceState;
        cursor = (cursor + 1) % order.length;
        // A device at the thread's head has nothing left to read (fanout.ts sizes HEAD so this does not happen).
        if (state.seq + 1 >= state.sentAt.length) {
          exhausted++;
          continue;
        }
        state.seq++;
        state.sentAt[state.seq] = performance.now();
        state.own.set(state.thread, packMarker(0, state.seq));
        sent++;
        burst++;
      }
      if (now - start >= request.durationMs) {
        clearInterval(timer);
        resolve();
      }
    };
    const timer = setInterval(tick, 1);
  });
  const sendMs = performance.now() - start;
  const perWrite = devices.length === 0 ? 0 : devicesPerAccountOf() - 1;
  const expected = sent * perWrite;
  const drainMs = await drain(() => received, expected, request.quietMs, request.maxDrainMs);
  measuring = false;
  return {
    sent,
    planned,
    expected,
    received,
    latencies: latencies.slice(0, latencyCount),
    sendMs,
    drainMs,
    closes: { ...closes },
  };
}

function devicesPerAccountOf(): number {
  const first = devices[0];
  if (first === undefined) return 0;
  return devices.filter((state) => state.account === first.account).length;
}

async function close(): Promise<null> {
  for (const state of devices.splice(0)) {
    state.provider.destroy();
    state.doc.destroy();
  }
  return null;
}

serveRequests({ open, step, close });
