/**
 * Honest devices syncing with the server's own room, session and group commit (RoomHarness),
 * message by message, as stock y-websocket providers do: on connect the device sends sync
 * step 1; the room answers its step 1 on join and the device's step 1 with a step 2 once
 * everything it could contain is on disk; local edits go out as updates as soon as the
 * socket is open, so after a reconnect they can overtake the device's step 2 (the room drops
 * them as "not yet"; the step 2 carries them). Each direction is one ordered queue; a
 * disconnect or a crash loses whatever is in flight. The group commit writes only at a
 * `commit` step, so relays and step 2 answers wait as they do between two disk writes.
 */
import assert from 'node:assert/strict';
import {
  type AccountId,
  CloseCode,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deviceRoot,
  KeyValueArray,
  muteKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  type ThreadId,
} from '@badgesync/shared';
import fc from 'fast-check';
import * as Y from 'yjs';
import { reloadDifferences } from '../../shared/test/helpers/oracle.js';
import { Rng } from '../../shared/test/helpers/rng.js';
import { SIM_THREADS, type SimOp, simOp } from '../../shared/test/helpers/sync-sim.js';
import { DeviceConnection, type SentKind } from './device-connection.js';
import { RoomHarness } from './room-harness.js';
import { entriesIn, valueIn } from './room-rig.js';
import { ABNORMAL_CLOSURE } from './socket-pair.js';

const REMOTE = Symbol('remote');

export type RoomSimOp =
  | SimOp
  /** The group commit writes: relays and step 2 answers waiting on it go out. */
  | { readonly k: 'commit' }
  /** The server process dies: connections drop and the unwritten group commit is lost. */
  | { readonly k: 'crash' }
  /** The room replaces the stored log with a snapshot (only when every write is on disk). */
  | { readonly k: 'compact' };

export function roomSimOp(devices: number): fc.Arbitrary<RoomSimOp> {
  return fc.oneof(
    { weight: 60, arbitrary: simOp(devices) },
    { weight: 10, arbitrary: fc.constant({ k: 'commit' as const }) },
    { weight: 1, arbitrary: fc.constant({ k: 'crash' as const }) },
    { weight: 1, arbitrary: fc.constant({ k: 'compact' as const }) },
  );
}

/** Closes an honest device may see: a drop, a crash, a restart. Anything else is a refusal. */
const EXPECTED_CLOSES: ReadonlySet<number> = new Set([ABNORMAL_CLOSURE, CloseCode.goingAway]);

class SimDevice {
  doc!: Y.Doc;
  tracker!: CountsTracker;
  /** The device's own array (`v2/device/<id>`): the only one it writes. */
  own!: KeyValueArray;
  readonly connection: DeviceConnection;
  /** The server has this connection's sync step 2 from the device. */
  step2Delivered = false;
  /** The largest value this install wrote per key of its array (markers and mute stamps). */
  wrote = new Map<string, number>();

  constructor(
    readonly id: DeviceId,
    clientId: number,
  ) {
    this.connection = new DeviceConnection(id, () => this.doc, REMOTE);
    this.install(clientId);
  }

  install(clientId: number): void {
    this.doc?.destroy();
    this.doc = new Y.Doc();
    this.doc.clientID = clientId;
    this.tracker = new CountsTracker(this.doc);
    this.own = new KeyValueArray(this.doc, deviceRoot(this.id));
    this.connection.synced = false;
    this.wrote = new Map();
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE) this.connection.sendUpdate(update);
    });
  }
}

export class RoomSyncSim {
  readonly harness: RoomHarness;
  readonly devices: SimDevice[];
  readonly #rng: Rng;
  /** The room's "not yet" count when the last one was attributed to a message. */
  #notYetSeen = 0;
  readonly stats = {
    /** Step 2s and updates the room took (applied, or nothing new). */
    accepted: 0,
    notYet: 0,
    /** "Not yet" verdicts on updates that reached the server after the session's step 2. */
    lateNotYet: 0,
    /** Updates that reached the server before the device's step 2 of that session. */
    earlyUpdates: 0,
    restarts: 0,
    crashes: 0,
    commits: 0,
    compactions: 0,
    reinstalls: 0,
    markerWrites: 0,
    muteWrites: 0,
    offlineWrites: 0,
    /** Accepted updates after which the sender's array held two live entries of one key. */
    duplicates: 0,
  };

  /**
   * `devices` sim devices; device i has the device ID `dev<ids[i]>` (default: its own index), so
   * two sim devices with one ID are two concurrent sessions of that device (legal in v2).
   */
  constructor(devices: number, seed: number, ids?: readonly number[]) {
    this.#rng = new Rng(seed);
    this.harness = new RoomHarness('alice' as AccountId, () => this.#clientId());
    this.devices = Array.from(
      { length: devices },
      (_, i) => new SimDevice(`dev${ids?.[i] ?? i}` as DeviceId, this.#clientId()),
    );
  }

  #clientId(): number {
    return this.#rng.range(1, 2 ** 31 - 1);
  }

  #device(index: number): SimDevice {
    return this.devices[index % this.devices.length] as SimDevice;
  }

  #thread(index: number): ThreadId {
    return SIM_THREADS[index % SIM_THREADS.length] as ThreadId;
  }

  async run(op: RoomSimOp): Promise<void> {
    switch (op.k) {
      case 'ingest':
        return this.harness.ingest(this.#thread(op.thread), op.n);
      case 'apiRead':
        return this.harness.apiRead(this.#thread(op.thread), op.seq);
      case 'read':
      case 'unread':
      case 'allRead':
        return this.#write(this.#device(op.dev), op);
      case 'mute':
        return this.#mute(this.#device(op.dev), this.#thread(op.thread), op.on);
      case 'connect': {
        const device = this.#device(op.dev);
        if (device.connection.online) return;
        device.step2Delivered = false;
        device.connection.open(this.harness);
        return;
      }
      case 'resync':
        return this.#device(op.dev).connection.resync();
      case 'disconnect':
        return this.#device(op.dev).connection.drop();
      case 'toServer':
        return this.#toServer(this.#device(op.dev), op.n);
      case 'toDevice':
        return this.#device(op.dev).connection.deliverToDevice(op.n);
      case 'commit':
        this.stats.commits++;
        await this.harness.committed();
        return;
      case 'restart':
        this.harness.restart();
        this.stats.restarts++;
        return;
      case 'crash':
        this.harness.crash();
        this.stats.crashes++;
        return;
      case 'compact':
        if (this.harness.room.compact()) this.stats.compactions++;
        return;
      case 'reinstall': {
        const device = this.#device(op.dev);
        device.connection.drop();
        device.install(this.#clientId());
        this.stats.reinstalls++;
        return;
      }
    }
  }

  #set(device: SimDevice, key: string, value: number): void {
    device.own.set(key, value);
    device.wrote.set(key, Math.max(device.wrote.get(key) ?? 0, value));
    if (!device.connection.online) this.stats.offlineWrites++;
  }

  /** A mute or unmute through planMute, as the SDK writes it; nothing when the planner refuses. */
  #mute(device: SimDevice, thread: ThreadId, muted: boolean): void {
    let stamp: number | null;
    try {
      stamp = planMute(device.tracker, thread, device.id, muted);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      stamp = null; // too many offline toggles: the SDK reports it, nothing is written
    }
    if (stamp === null) return;
    this.#set(device, muteKey(thread), stamp);
    this.stats.muteWrites++;
  }

  #write(device: SimDevice, op: Extract<SimOp, { k: 'read' | 'unread' | 'allRead' }>): void {
    if (!device.connection.synced) return; // [MARK-5] a fresh install writes markers only once synced
    const set = (key: string, value: number) => {
      this.#set(device, key, value);
      this.stats.markerWrites++;
    };
    if (op.k === 'allRead') {
      device.doc.transact(() => {
        for (const write of planAllRead(device.tracker, device.id)) set(write.thread, write.value);
      });
      return;
    }
    const thread = this.#thread(op.thread);
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

  #toServer(device: SimDevice, n: number): void {
    const { connection } = device;
    const pair = connection.pair;
    connection.deliverToServer(n, (kind: SentKind) => {
      if (kind === 'step1') return;
      const early = kind === 'update' && !device.step2Delivered;
      if (early) this.stats.earlyUpdates++;
      if (kind === 'step2') device.step2Delivered = true;
      const notYet = this.harness.notYet;
      if (pair?.ended?.by === 'server' && !EXPECTED_CLOSES.has(pair.ended.code)) {
        assert.fail(
          `honest ${kind} from ${device.id} closed with ${pair.ended.code} (${pair.ended.reason})\n` +
            JSON.stringify(this.harness.problems),
        );
      }
      // The room logs each "not yet" as it drops the update: compare with the count before.
      if (notYet > this.#notYetSeen) {
        this.#notYetSeen = notYet;
        this.stats.notYet++;
        if (!early) this.stats.lateNotYet++;
      } else {
        this.stats.accepted++;
        if (this.#holdsDuplicate(device.id)) this.stats.duplicates++;
      }
    });
  }

  #holdsDuplicate(device: DeviceId): boolean {
    const keys = entriesIn(this.harness.room.doc, deviceRoot(device)).map((entry) => entry.key);
    return new Set(keys).size < keys.length;
  }

  /** A few items in every thread, every device connected and synced. */
  async warmUp(): Promise<void> {
    for (const thread of SIM_THREADS) this.harness.ingest(thread, 5);
    await this.settle();
  }

  /** Everyone connects and every message is delivered, with commits, until nothing moves. */
  async settle(): Promise<void> {
    for (let i = 0; i < this.devices.length; i++) await this.run({ k: 'connect', dev: i });
    for (let round = 0; round < 100; round++) {
      const moved = this.devices.some((device) => device.connection.busy) || this.harness.commit.pending;
      for (const device of this.devices) {
        this.#toServer(device, Number.POSITIVE_INFINITY);
        device.connection.deliverToDevice(Number.POSITIVE_INFINITY);
      }
      await this.harness.committed();
      if (!moved) return;
    }
    assert.fail('the sync did not settle');
  }

  /**
   * Nothing refused or logged as a problem; the room's document equals what the store reloads;
   * every device holds the room's state and counts; the stored counts are the room's.
   */
  assertConverged(): void {
    const { harness } = this;
    const room = harness.room;
    assert.deepEqual(harness.problems, [], 'the room logged warnings or errors');
    assert.deepEqual(harness.fatal, []);
    for (const device of this.devices) {
      const refusals = device.connection.closes.filter((code) => !EXPECTED_CLOSES.has(code));
      assert.deepEqual(refusals, [], `${device.id} was closed with a refusal`);
    }
    assert.equal(room.doc.store.pendingStructs, null, 'the room keeps pending structs');
    assert.equal(room.doc.store.pendingDs, null, 'the room keeps pending deletes');
    assert.deepEqual(reloadDifferences(room.doc, harness.storedUpdates()), [], 'the store reloads another document');
    const expected = deriveCounts(room.doc);
    assert.deepEqual(room.tracker.counts(), expected);
    assert.deepEqual(harness.storedCounts(), expected, 'the stored counts (GET /badge) differ from the document');
    const stateOf = (doc: Y.Doc) => [...Y.decodeStateVector(Y.encodeStateVector(doc))].sort(([a], [b]) => a - b);
    const serverState = stateOf(room.doc);
    for (const device of this.devices) {
      assert.equal(device.doc.store.pendingStructs, null, `${device.id} keeps pending structs`);
      assert.deepEqual(stateOf(device.doc), serverState, `${device.id} and the server hold different updates`);
      assert.deepEqual(deriveCounts(device.doc), expected, `${device.id}: counts differ from the server's`);
      assert.deepEqual(device.tracker.counts(), expected);
      for (const [key, value] of device.wrote) {
        const stored = valueIn(room.doc, deviceRoot(device.id), key) ?? -1;
        assert.ok(stored >= value, `${device.id}'s write ${key} = ${value} never reached the server (${stored})`);
      }
    }
  }

  close(): void {
    this.harness.close();
    for (const device of this.devices) device.doc.destroy();
  }
}
