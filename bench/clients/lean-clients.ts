/**
 * A lean client worker of the ceiling benchmark (started by ceiling.ts with an IPC channel):
 * raw y-websocket connections with no Yjs document per device, so that the clients cost a
 * small fraction of what the server they load costs. Requests: `open`, `prepare` (a step's
 * frames), `step`, `close`.
 *
 * Each device writes its own marker of the thread, `{ key: thread, val: packMarker(0, seq) }`
 * in its own array `v2/device/<device>` (contract v2, SPEC DOC-8/DOC-13), seq 1, 2, 3, …,
 * under a Yjs client ID of its own, one struct per write: write `seq` is the entry at clock
 * `seq - 1`, its left origin the device's previous entry, which it deletes — the very update
 * `KeyValueArray.set` produces (checked byte for byte against Yjs when the worker opens), so
 * it passes the server's write rules (RULE-19..RULE-23). The frames of a step are encoded before the step
 * starts; during the step the worker only sends bytes.
 *
 * A relayed update names its writer's client ID and clock in its first bytes, so a receiver
 * reads the frame header only (no decoding into a document): the writer's device, by client
 * ID, and the write's send time, by clock, are both in this process, since all of an
 * account's devices live in one worker.
 *
 * Sync as the protocol asks: a device sends a step 1 (empty state vector) on connect and is
 * ready when the server's step 2 answers it; it answers the server's step 1 with a step 2
 * of what it holds, which is nothing (devices connect before they write, and once). Through
 * the bare relay, which answers nothing, a device is ready when its socket opens.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { type AccountId, type DeviceId, deviceRoot, KeyValueArray, packMarker, parseDeviceId } from '@badgesync/shared';
import * as encoding from 'lib0/encoding';
import type { WebSocket } from 'ws';
import * as Y from 'yjs';
import { mintDeviceToken } from '../../server/src/auth/device-token.js';
import { drain } from '../lib/drain.js';
import { serveRequests } from '../lib/ipc.js';
import { probeLoopback, sourceAddress, webSocketFrom } from '../lib/loopback.js';
import { Samples } from '../lib/samples.js';
import { SyncType, syncFrame } from '../lib/sync-frames.js';

export interface LeanOpenRequest {
  readonly kind: 'badgesync' | 'reference' | 'relay';
  readonly syncUrl: string;
  /**
   * Several nodes of one cluster (bench/cluster.ts): device i of all workers' connects to
   * `syncUrls[i % length]`, so the devices of an account spread round-robin over the nodes.
   * Absent: every device connects to `syncUrl`.
   */
  readonly syncUrls?: readonly string[];
  readonly deviceSecret: string;
  readonly accounts: readonly string[];
  readonly devicesPerAccount: number;
  readonly thread: string;
  /** Highest seq a device may write (the thread's head on badgesync). */
  readonly maxSeq: number;
  /** Index of this worker's first connection among all workers' (source addresses, client IDs). */
  readonly connectionOffset: number;
}

export interface LeanOpenAnswer {
  readonly devices: number;
  readonly ready: number;
  readonly ms: number;
}

export interface LeanStepRequest {
  /** Writes per second this worker sends. */
  readonly rate: number;
  readonly durationMs: number;
  /** Longest wait for late arrivals after the last write. */
  readonly maxDrainMs: number;
  /** A drain ends early when nothing arrives for this long. */
  readonly quietMs: number;
}

export interface LeanStepAnswer {
  readonly sent: number;
  /** Writes the schedule asked for; more than `sent` when this process fell behind. */
  readonly planned: number;
  readonly expected: number;
  readonly received: number;
  /** Arrival latencies, ms. */
  readonly latencies: Float64Array;
  /** The same arrivals split: writer and receiver on one node, or on two (one hop over the bus). */
  readonly sameNode: Float64Array;
  readonly crossNode: Float64Array;
  /** Arrivals by the receiver's node (index into `syncUrls`; one entry without it). */
  readonly receivedByNode: readonly number[];
  readonly sendMs: number;
  readonly drainMs: number;
  /** Connections that closed during the step, by close code. */
  readonly closes: Record<string, number>;
}

interface Device {
  readonly account: string;
  /** The device's own array, `v2/device/<device>`. */
  readonly root: string;
  /** The thread: the key of the device's marker entry. */
  readonly key: string;
  readonly client: number;
  /** Index of the node it connects to (into `syncUrls`; 0 without it). */
  readonly node: number;
  readonly ws: WebSocket;
  ready: boolean;
  /** Last seq written. */
  seq: number;
  /** Send time (performance.now()) by seq; 0 for seqs not written in the current step. */
  readonly sentAt: Float64Array;
  /** This step's frames: frames[i] writes seq `firstFrameSeq + i`. */
  frames: Uint8Array[];
  firstFrameSeq: number;
}

/** Connections opening at once: enough to open thousands in seconds without a thundering herd. */
const CONNECT_CONCURRENCY = 64;
/** How long one connection may take to become ready before the benchmark gives up. */
const READY_TIMEOUT_MS = 60_000;
/** Most writes one timer tick sends when the schedule is behind: the loop must still yield. */
const MAX_WRITES_PER_TICK = 500;
/**
 * Client IDs start here: far from the small numbers a hand-written test might use; the
 * servers' own IDs are random 32-bit numbers, so a clash is a one-in-millions chance.
 */
const CLIENT_ID_BASE = 1_000_000;
/** A step 2 of an empty document: no structs, no deletions. */
const EMPTY_UPDATE = new Uint8Array([0, 0]);
/** A step 1 with an empty state vector. */
const EMPTY_STATE_VECTOR = new Uint8Array([0]);
/** ws reads no option it need not: binary, never compressed (no server here offers it). */
const SEND_OPTIONS = { binary: true, compress: false } as const;
/** Extra frames encoded per device beyond its share of a step: the round-robin is not exact. */
const FRAME_SLACK = 4;

const devices: Device[] = [];
const byClient = new Map<number, Device>();
const latencies = new Samples();
const sameNode = new Samples();
const crossNode = new Samples();
let receivedByNode: number[] = [0];
let received = 0;
let measuring = false;
const closes: Record<string, number> = {};

/**
 * The Yjs update (v1 encoding) of `new KeyValueArray(doc, root).set(key, packMarker(0, seq))`
 * by a device whose only writes are its markers of one thread (SPEC DOC-13): the entry
 * `{ key, val }` pushed at clock seq - 1 under `client` into the device's own array `root`,
 * its left origin the device's previous entry (push goes after the array's last item,
 * deleted or not), which the update deletes. The first write has no origin and names the
 * root instead.
 */
export function markerUpdate(client: number, root: string, key: string, seq: number): Uint8Array {
  const clock = seq - 1;
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 1); // one client's structs
  encoding.writeVarUint(encoder, 1); // one struct
  encoding.writeVarUint(encoder, client);
  encoding.writeVarUint(encoder, clock);
  if (clock === 0) {
    // Item info: content ContentAny (8); no origins, no parentSub (an array element).
    encoding.writeUint8(encoder, 8);
    encoding.writeVarUint(encoder, 1); // the parent is a root type, named
    encoding.writeVarString(encoder, root);
  } else {
    // Item info: left origin present, ContentAny; the parent is implied by the origin.
    encoding.writeUint8(encoder, 0x80 | 8);
    encoding.writeVarUint(encoder, client);
    encoding.writeVarUint(encoder, clock - 1);
  }
  encoding.writeVarUint(encoder, 1); // one value
  encoding.writeAny(encoder, { key, val: packMarker(0, seq) });
  if (clock === 0) {
    encoding.writeVarUint(encoder, 0); // no deletions
  } else {
    encoding.writeVarUint(encoder, 1); // deletions of one client
    encoding.writeVarUint(encoder, client);
    encoding.writeVarUint(encoder, 1); // one range
    encoding.writeVarUint(encoder, clock - 1);
    encoding.writeVarUint(encoder, 1);
  }
  return encoding.toUint8Array(encoder);
}

/** Throws unless `markerUpdate` encodes what Yjs itself sends for the same writes. */
export function checkMarkerEncoding(): void {
  const doc = new Y.Doc();
  doc.clientID = CLIENT_ID_BASE + 12_345;
  const emitted: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array) => emitted.push(update));
  const root = deviceRoot(parseDeviceId('check-device'));
  const key = 'inbox';
  const markers = new KeyValueArray(doc, root);
  for (let seq = 1; seq <= 300; seq++) markers.set(key, packMarker(0, seq));
  doc.destroy();
  emitted.forEach((expected, i) => {
    const mine = markerUpdate(CLIENT_ID_BASE + 12_345, root, key, i + 1);
    if (Buffer.compare(Buffer.from(mine), Buffer.from(expected)) !== 0) {
      throw new Error(`lean marker update ${i + 1} differs from Yjs's: ${mine.join(',')} vs ${expected.join(',')}`);
    }
  });
}

/** Where `nextVarUint` reads next in the frame at hand. */
let cursor = 0;

/** Reads the lib0 varuint at `cursor` and moves past it; -1 past the end. */
function nextVarUint(data: Uint8Array): number {
  let value = 0;
  let shift = 1;
  for (;;) {
    const byte = data[cursor++];
    if (byte === undefined) return -1;
    value += (byte & 0x7f) * shift;
    if (byte < 0x80) return value;
    shift *= 128;
  }
}

function record(writer: Device, receiver: Device, latency: number): void {
  latencies.add(latency);
  (writer.node === receiver.node ? sameNode : crossNode).add(latency);
  receivedByNode[receiver.node] = (receivedByNode[receiver.node] ?? 0) + 1;
}

/**
 * A frame for `receiver`: a relayed update is [0 sync, 2 update, len, structs-clients,
 * structs, client, clock, …]; only that header is read. The sender's own echo (the
 * reference server relays to the sender too) and anything not a device of ours is skipped.
 */
function onFrame(receiver: Device, data: Buffer): void {
  if (data[0] !== 0) return;
  const sub = data[1];
  if (sub === SyncType.step1) {
    receiver.ws.send(syncFrame(SyncType.step2, EMPTY_UPDATE));
    return;
  }
  if (sub === SyncType.step2) {
    receiver.ready = true;
    return;
  }
  if (sub !== SyncType.update || !measuring) return;
  cursor = 2;
  nextVarUint(data); // payload length
  if (nextVarUint(data) !== 1) return; // structs of one client
  nextVarUint(data); // struct count
  const client = nextVarUint(data);
  const clock = nextVarUint(data);
  const writer = byClient.get(client);
  if (writer === undefined || writer === receiver || writer.account !== receiver.account) return;
  const sent = writer.sentAt[clock + 1] ?? 0;
  if (sent === 0) return;
  received++;
  record(writer, receiver, performance.now() - sent);
}

async function open(request: LeanOpenRequest): Promise<LeanOpenAnswer> {
  checkMarkerEncoding();
  await probeLoopback();
  const began = performance.now();
  const plan: Array<{ account: string; device: string; index: number }> = [];
  let index = request.connectionOffset;
  for (const account of request.accounts)
    for (let d = 0; d < request.devicesPerAccount; d++)
      plan.push({ account, device: `${account}-d${d}`, index: index++ });
  const urls = request.syncUrls ?? [request.syncUrl];
  receivedByNode = urls.map(() => 0);
  const created: Device[] = [];
  let next = 0;
  const lane = async () => {
    while (next < plan.length) {
      const { account, device, index } = plan[next++] as (typeof plan)[number];
      const token = await mintDeviceToken(request.deviceSecret, account as AccountId, device as DeviceId, 24 * 3600);
      const Socket = webSocketFrom(sourceAddress(index));
      const node = index % urls.length;
      const ws = new Socket(`${urls[node] as string}/${account}?token=${token}`);
      ws.binaryType = 'nodebuffer';
      const state: Device = {
        account,
        root: deviceRoot(parseDeviceId(device)),
        key: request.thread,
        client: CLIENT_ID_BASE + index,
        node,
        ws,
        ready: false,
        seq: 0,
        sentAt: new Float64Array(request.maxSeq + 1),
        frames: [],
        firstFrameSeq: 1,
      };
      byClient.set(state.client, state);
      created.push(state);
      ws.on('message', (data: Buffer) => onFrame(state, data));
      ws.on('close', (code: number) => {
        if (measuring) closes[code] = (closes[code] ?? 0) + 1;
      });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
        ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
      if (request.kind === 'relay') state.ready = true;
      else ws.send(syncFrame(SyncType.step1, EMPTY_STATE_VECTOR));
      const until = Date.now() + READY_TIMEOUT_MS;
      while (!state.ready) {
        if (Date.now() > until) throw new Error(`${device} not ready within ${READY_TIMEOUT_MS} ms`);
        await sleep(5);
      }
    }
  };
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, lane));
  devices.push(...created);
  return { devices: created.length, ready: created.filter((d) => d.ready).length, ms: performance.now() - began };
}

/**
 * Encodes each device's frames for the next step (`prepare`, asked before the step so that
 * the encoding falls outside its timed and CPU-measured window).
 */
function prepare(request: LeanStepRequest): number {
  const writes = Math.ceil((request.rate * request.durationMs) / 1000);
  const perDevice = Math.ceil(writes / Math.max(1, devices.length)) + FRAME_SLACK;
  for (const device of devices) {
    device.sentAt.fill(0);
    const first = device.seq + 1;
    const last = Math.min(device.sentAt.length - 1, device.seq + perDevice);
    device.firstFrameSeq = first;
    device.frames = [];
    for (let seq = first; seq <= last; seq++)
      device.frames.push(syncFrame(SyncType.update, markerUpdate(device.client, device.root, device.key, seq)));
  }
  return devices.reduce((sum, device) => sum + device.frames.length, 0);
}

async function step(request: LeanStepRequest): Promise<LeanStepAnswer> {
  latencies.take();
  sameNode.take();
  crossNode.take();
  receivedByNode = receivedByNode.map(() => 0);
  received = 0;
  for (const code of Object.keys(closes)) delete closes[code];
  // A fresh random order each step, so no account is always first in a tick.
  const order = [...devices].sort(() => Math.random() - 0.5);
  measuring = true;
  let sent = 0;
  let cursor = 0;
  let planned = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const elapsed = Math.min(now - start, request.durationMs);
      planned = Math.floor((request.rate * elapsed) / 1000);
      let burst = 0;
      let exhausted = 0;
      while (sent < planned && burst < MAX_WRITES_PER_TICK && exhausted < order.length) {
        const device = order[cursor] as Device;
        cursor = (cursor + 1) % order.length;
        const frame = device.frames[device.seq + 1 - device.firstFrameSeq];
        // Out of frames (the thread's head, or this step's share used up): the next device.
        if (frame === undefined) {
          exhausted++;
          continue;
        }
        device.seq++;
        device.sentAt[device.seq] = performance.now();
        device.ws.send(frame, SEND_OPTIONS);
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
  const expected = sent * (devicesPerAccountOf() - 1);
  const drainMs = await drain(() => received, expected, request.quietMs, request.maxDrainMs);
  measuring = false;
  return {
    sent,
    planned,
    expected,
    received,
    latencies: latencies.take(),
    sameNode: sameNode.take(),
    crossNode: crossNode.take(),
    receivedByNode: [...receivedByNode],
    sendMs,
    drainMs,
    closes: { ...closes },
  };
}

function devicesPerAccountOf(): number {
  const first = devices[0];
  if (first === undefined) return 1;
  return devices.filter((device) => device.account === first.account).length;
}

async function close(): Promise<null> {
  for (const device of devices.splice(0)) device.ws.close();
  byClient.clear();
  return null;
}

// Imported for markerUpdate/checkMarkerEncoding (by a test or a script) it must not serve.
if (process.send !== undefined) {
  // Exit through process.exit on SIGTERM, so that --cpu-prof writes its profile.
  process.once('SIGTERM', () => process.exit(0));
  serveRequests({ open, prepare, step, close });
}
