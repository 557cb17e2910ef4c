/**
 * Honest devices syncing with the server through the write rules, message by message, as
 * stock y-websocket providers do: on connect the device sends sync step 1 (its state
 * vector); the server answers step 2 (what the device lacks) and its own step 1; the device
 * answers step 2. Local edits go out as updates as soon as the socket is open, so right
 * after a reconnect they can reach the server before the device's step 2 (the server drops
 * them as "not yet"; the step 2 carries them). Each direction is one ordered queue; a
 * disconnect or a server restart loses whatever is in flight. Contract v2: each device writes
 * its own array through KeyValueArray; two sim devices may be two sessions (two replicas,
 * two client IDs) of one device ID, writing concurrently.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as Y from 'yjs';
import {
  CountsTracker,
  checkBudgets,
  checkUpdate,
  type DeviceId,
  type DocumentBudgets,
  deriveCounts,
  deviceRoot,
  KeyValueArray,
  muteKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  type ThreadId,
} from '../../src/index.js';
import { Rng } from './rng.js';
import { ServerPeer } from './server-peer.js';

const REMOTE = Symbol('remote');

/** The server's default budgets (README "Limits"). */
const DEFAULT_BUDGETS: DocumentBudgets = {
  newClientsPerUpdate: 64,
  clientsPerDevice: 5000,
  clientsPerAccount: 20_000,
  concurrentPerKey: 16,
  mutesPerAccount: 10_000,
  readsPerAccount: 20_000,
};
export const SIM_THREADS = ['inbox', 'chat:1', 'feed.x'] as ThreadId[];

type Message =
  | { readonly kind: 'step1'; readonly sv: Uint8Array }
  | { readonly kind: 'step2' | 'update'; readonly update: Uint8Array };

export type SimOp =
  | { readonly k: 'ingest'; readonly thread: number; readonly n: number }
  | { readonly k: 'apiRead'; readonly thread: number; readonly seq: number }
  | { readonly k: 'read'; readonly dev: number; readonly thread: number; readonly seq: number }
  | { readonly k: 'unread'; readonly dev: number; readonly thread: number; readonly from: number }
  | { readonly k: 'allRead'; readonly dev: number }
  | { readonly k: 'mute'; readonly dev: number; readonly thread: number; readonly on: boolean }
  | { readonly k: 'connect'; readonly dev: number }
  /** y-websocket's resyncInterval: an open connection sends sync step 1 again. */
  | { readonly k: 'resync'; readonly dev: number }
  | { readonly k: 'disconnect'; readonly dev: number }
  | { readonly k: 'toServer'; readonly dev: number; readonly n: number }
  | { readonly k: 'toDevice'; readonly dev: number; readonly n: number }
  | { readonly k: 'restart' }
  | { readonly k: 'reinstall'; readonly dev: number };

/**
 * One step of an honest history among `devices` devices, weighted so that messages move
 * often, devices come and go, and restarts and reinstalls happen now and then.
 */
export function simOp(devices: number): fc.Arbitrary<SimOp> {
  const dev = fc.nat({ max: devices - 1 });
  const thread = fc.nat({ max: SIM_THREADS.length - 1 });
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({ k: fc.constant('ingest' as const), thread, n: fc.integer({ min: 1, max: 4 }) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('apiRead' as const), thread, seq: fc.nat({ max: 14 }) }) },
    { weight: 12, arbitrary: fc.record({ k: fc.constant('read' as const), dev, thread, seq: fc.nat({ max: 14 }) }) },
    {
      weight: 5,
      arbitrary: fc.record({ k: fc.constant('unread' as const), dev, thread, from: fc.integer({ min: 1, max: 14 }) }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('allRead' as const), dev }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('mute' as const), dev, thread, on: fc.boolean() }) },
    { weight: 5, arbitrary: fc.record({ k: fc.constant('connect' as const), dev }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant('disconnect' as const), dev }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('resync' as const), dev }) },
    {
      weight: 15,
      arbitrary: fc.record({ k: fc.constant('toServer' as const), dev, n: fc.integer({ min: 1, max: 3 }) }),
    },
    {
      weight: 15,
      arbitrary: fc.record({ k: fc.constant('toDevice' as const), dev, n: fc.integer({ min: 1, max: 3 }) }),
    },
    { weight: 1, arbitrary: fc.constant({ k: 'restart' as const }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('reinstall' as const), dev }) },
  );
}

class SimDevice {
  doc!: Y.Doc;
  tracker!: CountsTracker;
  entries!: KeyValueArray;
  online = false;
  /** The server has this session's sync step 2 from the device. */
  step2Delivered = false;
  /** This install has received a sync step 2: only then does the SDK write markers. */
  synced = false;
  toServer: Message[] = [];
  toDevice: Message[] = [];
  /** The largest marker this install wrote per key. */
  wrote = new Map<ThreadId, number>();

  constructor(
    readonly id: DeviceId,
    clientId: number,
  ) {
    this.install(clientId);
  }

  install(clientId: number): void {
    this.doc?.destroy();
    this.doc = new Y.Doc();
    this.doc.clientID = clientId;
    this.tracker = new CountsTracker(this.doc);
    this.entries = new KeyValueArray(this.doc, deviceRoot(this.id));
    this.synced = false;
    this.wrote = new Map();
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && this.online) this.toServer.push({ kind: 'update', update });
    });
  }
}

export class SyncSim {
  readonly server = new ServerPeer();
  readonly devices: SimDevice[];
  readonly #rng: Rng;
  readonly stats = {
    accepted: 0,
    notYet: 0,
    /** "Not yet" verdicts on updates that reached the server after the session's step 2. */
    lateNotYet: 0,
    /** Updates that reached the server before the device's step 2 of that session. */
    earlyUpdates: 0,
    restarts: 0,
    reinstalls: 0,
    markerWrites: 0,
    offlineWrites: 0,
    /** Accepted updates after which the sender's array held two live entries of one thread. */
    duplicates: 0,
  };

  /**
   * `devices` sim devices; device i has the device ID `dev<ids[i]>` (default: its own index),
   * so two sim devices with one ID are two concurrent sessions of that device.
   */
  constructor(devices: number, seed: number, ids?: readonly number[]) {
    this.#rng = new Rng(seed);
    this.devices = Array.from(
      { length: devices },
      (_, i) => new SimDevice(`dev${ids?.[i] ?? i}` as DeviceId, this.#clientId()),
    );
    this.server.relays.add((update) => {
      for (const device of this.devices) if (device.online) device.toDevice.push({ kind: 'update', update });
    });
  }

  #clientId(): number {
    return this.#rng.range(1, 2 ** 31 - 1);
  }

  #device(index: number): SimDevice {
    return this.devices[index % this.devices.length] as SimDevice;
  }

  run(op: SimOp): void {
    switch (op.k) {
      case 'ingest':
        this.server.ingest(SIM_THREADS[op.thread % SIM_THREADS.length] as ThreadId, op.n);
        return;
      case 'apiRead':
        this.server.apiRead(SIM_THREADS[op.thread % SIM_THREADS.length] as ThreadId, op.seq);
        return;
      case 'read':
      case 'unread':
      case 'allRead':
        return this.#write(this.#device(op.dev), op);
      case 'mute': {
        const device = this.#device(op.dev);
        const thread = SIM_THREADS[op.thread % SIM_THREADS.length] as ThreadId;
        try {
          const stamp = planMute(device.tracker, thread, device.id, op.on);
          if (stamp !== null) device.entries.set(muteKey(thread), stamp);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err; // [MARK-7] "sync first": nothing written
        }
        return;
      }
      case 'connect': {
        const device = this.#device(op.dev);
        if (device.online) return;
        device.online = true;
        device.step2Delivered = false;
        device.toServer.push({ kind: 'step1', sv: Y.encodeStateVector(device.doc) });
        return;
      }
      case 'resync': {
        const device = this.#device(op.dev);
        if (device.online) device.toServer.push({ kind: 'step1', sv: Y.encodeStateVector(device.doc) });
        return;
      }
      case 'disconnect':
        return this.#disconnect(this.#device(op.dev));
      case 'toServer':
        return this.#toServer(this.#device(op.dev), op.n);
      case 'toDevice':
        return this.#toDevice(this.#device(op.dev), op.n);
      case 'restart':
        for (const device of this.devices) this.#disconnect(device);
        this.server.restart();
        this.stats.restarts++;
        return;
      case 'reinstall': {
        const device = this.#device(op.dev);
        this.#disconnect(device);
        device.install(this.#clientId());
        this.stats.reinstalls++;
        return;
      }
    }
  }

  #write(device: SimDevice, op: Extract<SimOp, { k: 'read' | 'unread' | 'allRead' }>): void {
    if (!device.synced) return; // [MARK-5] a fresh install writes markers only once synced
    const set = (key: ThreadId, value: number) => {
      device.entries.set(key, value);
      this.stats.markerWrites++;
      device.wrote.set(key, Math.max(device.wrote.get(key) ?? 0, value));
      if (!device.online) this.stats.offlineWrites++;
    };
    if (op.k === 'allRead') {
      device.doc.transact(() => {
        for (const write of planAllRead(device.tracker, device.id)) set(write.thread, write.value);
      });
      return;
    }
    const thread = SIM_THREADS[op.thread % SIM_THREADS.length] as ThreadId;
    let value: number | null;
    try {
      value =
        op.k === 'read'
          ? planRead(device.tracker, thread, device.id, op.seq)
          : planUnread(device.tracker, thread, device.id, op.from);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      value = null; // the planner's own epoch-lead limit: the SDK reports it, nothing is written
    }
    if (value !== null) set(thread, value);
  }

  #disconnect(device: SimDevice): void {
    device.online = false;
    device.toServer = [];
    device.toDevice = [];
  }

  #toServer(device: SimDevice, n: number): void {
    for (let i = 0; i < n && device.online; i++) {
      const message = device.toServer.shift();
      if (message === undefined) return;
      if (message.kind === 'step1') {
        device.toDevice.push(
          { kind: 'step2', update: Y.encodeStateAsUpdate(this.server.doc, message.sv) },
          { kind: 'step1', sv: Y.encodeStateVector(this.server.doc) },
        );
        continue;
      }
      const early = message.kind === 'update' && !device.step2Delivered;
      if (early) this.stats.earlyUpdates++;
      if (message.kind === 'step2') device.step2Delivered = true;
      this.#assertWithinBudgets(device, message.update);
      const verdict = this.server.receive(device.id, message.update);
      if (verdict.kind === 'refuse') {
        assert.fail(
          `honest ${message.kind} from ${device.id} refused: ${verdict.reason} (${verdict.detail})\n` +
            `update ${Buffer.from(message.update).toString('hex')}`,
        );
      }
      if (verdict.kind === 'not-yet') {
        this.stats.notYet++;
        if (!early) this.stats.lateNotYet++;
      } else {
        this.stats.accepted++;
        for (const thread of SIM_THREADS) {
          if (this.server.tracker.liveEntries(device.id, thread).length > 1) this.stats.duplicates++;
        }
      }
    }
  }

  /** [BUDGET-6] [BUDGET-7] An honest update the rules accept is within the default budgets. */
  #assertWithinBudgets(device: SimDevice, update: Uint8Array): void {
    const verdict = checkUpdate(this.server.ctx, device.id, update);
    if (verdict.kind !== 'accept') return;
    const budget = checkBudgets(
      {
        doc: this.server.doc,
        view: this.server.tracker,
        device: device.id,
        budgets: DEFAULT_BUDGETS,
        deviceClients: 0,
        accountClients: 0,
      },
      update,
      verdict.newClients.length,
    );
    assert.equal(budget.kind, 'within', JSON.stringify(budget));
  }

  #toDevice(device: SimDevice, n: number): void {
    for (let i = 0; i < n && device.online; i++) {
      const message = device.toDevice.shift();
      if (message === undefined) return;
      if (message.kind === 'step1') {
        device.toServer.push({ kind: 'step2', update: Y.encodeStateAsUpdate(device.doc, message.sv) });
        continue;
      }
      Y.applyUpdate(device.doc, message.update, REMOTE);
      if (message.kind === 'step2') device.synced = true;
    }
  }

  /** A few items in every thread, every device connected and synced. */
  warmUp(): void {
    for (const thread of SIM_THREADS) this.server.ingest(thread, 5);
    this.settle();
  }

  /** Everyone connects and every message is delivered until nothing moves. */
  settle(): void {
    for (let i = 0; i < this.devices.length; i++) this.run({ k: 'connect', dev: i });
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (const device of this.devices) {
        if (device.toServer.length > 0 || device.toDevice.length > 0) moved = true;
        this.#toServer(device, Number.POSITIVE_INFINITY);
        this.#toDevice(device, Number.POSITIVE_INFINITY);
      }
      if (!moved) return;
    }
    assert.fail('the sync did not settle');
  }

  /** Zero refusals (asserted as they happen), then everyone holds the server's state. */
  assertConverged(): void {
    const { server } = this;
    assert.equal(server.refusals.length, 0);
    assert.equal(server.doc.store.pendingStructs, null, 'the server keeps pending structs');
    assert.equal(server.doc.store.pendingDs, null, 'the server keeps pending deletes');
    const expected = deriveCounts(server.doc);
    assert.deepEqual(server.tracker.counts(), expected);
    const stateOf = (doc: Y.Doc) => [...Y.decodeStateVector(Y.encodeStateVector(doc))].sort(([a], [b]) => a - b);
    const serverState = stateOf(server.doc);
    for (const device of this.devices) {
      assert.equal(device.doc.store.pendingStructs, null, `${device.id} keeps pending structs`);
      assert.deepEqual(stateOf(device.doc), serverState, `${device.id} and the server hold different updates`);
      assert.deepEqual(deriveCounts(device.doc), expected, `${device.id}: counts differ from the server's`);
      assert.deepEqual(device.tracker.counts(), expected);
      for (const [thread, value] of device.wrote) {
        const stored = server.tracker.markers(thread).get(device.id) ?? -1;
        assert.ok(stored >= value, `${device.id}'s read ${thread} = ${value} never reached the server (${stored})`);
      }
    }
  }
}
