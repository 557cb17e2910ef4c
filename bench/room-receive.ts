/**
 * The room's per-update path in one process, without sockets or disk: ACCOUNTS rooms × DEVICES
 * devices, each device sending read-marker updates (its previous entry deleted, the new one
 * pushed: the fan-out benchmark's write) through AccountRoom.receiveUpdate — write rules,
 * budgets, apply, counts, group commit on a memory store, relay to the other members — in
 * turns of TURN updates, the group commit flushing between turns as on a busy server.
 * Reports µs of the process's CPU time per received update and per delivered update (each is relayed
 * to the DEVICES − 1 others). Run it under `node --cpu-prof` to see where the time goes.
 *
 *   node --import tsx bench/room-receive.ts [--quick]
 *
 * Quick: 2 runs of 20,000 updates, full: 5 runs of 60,000; the median run is reported.
 */
import { type AccountId, type DeviceId, deviceRoot, KeyValueArray, packMarker, type ThreadId } from '@badgesync/shared';
import * as Y from 'yjs';
import { createLogger } from '../server/src/log.js';
import { Metrics } from '../server/src/metrics.js';
import { AccountRoom, type RoomMember } from '../server/src/rooms/account-room.js';
import { GroupCommit } from '../server/src/rooms/group-commit.js';
import { asyncStore } from '../server/src/store/async-store.js';
import { MemoryStore } from '../server/src/store/memory-store.js';
import { beginResult, emitResult, fmt } from './lib/report.js';
import { median } from './lib/stats.js';

const result = beginResult('room-receive', "The room's per-update path: check, apply, commit, relay (in process)");
const quick = result.mode === 'quick';
const ACCOUNTS = 200;
const DEVICES = 3;
/** Updates per event-loop turn: a group commit's batch at a few thousand updates/s. */
const TURN = 100;
const UPDATES = quick ? 20_000 : 60_000;
const RUNS = quick ? 2 : 5;
const THREAD = 'inbox' as ThreadId;
/** Heads posted first, so that every marker written has seq ≤ head. */
const HEAD = 1_000_000;

interface Writer {
  readonly room: AccountRoom;
  readonly member: RoomMember;
  readonly updates: Uint8Array[];
}

let delivered = 0;

function member(device: DeviceId): RoomMember {
  return {
    device,
    send() {
      delivered++;
    },
    close(code, reason) {
      throw new Error(`${device} closed with ${code}: ${reason}`);
    },
  };
}

/** One run's rooms and the updates each device will send, encoded beforehand. */
async function setUp(perDevice: number): Promise<{ writers: Writer[]; commit: GroupCommit; rooms: AccountRoom[] }> {
  const store = asyncStore(new MemoryStore());
  const metrics = new Metrics();
  const commit = new GroupCommit(store, metrics, (err) => {
    throw err;
  });
  const log = createLogger('silent');
  const events = { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} };
  const writers: Writer[] = [];
  const rooms: AccountRoom[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const room = await AccountRoom.load(`acct-${a}` as AccountId, { store, commit, metrics, log, events });
    rooms.push(room);
    room.serverWrite(({ heads }) => heads.set(THREAD, HEAD));
    for (let d = 0; d < DEVICES; d++) {
      const device = `device-${d}` as DeviceId;
      const doc = new Y.Doc();
      doc.clientID = 1_000 + a * DEVICES + d;
      const updates: Uint8Array[] = [];
      doc.on('update', (update: Uint8Array) => updates.push(update));
      const markers = new KeyValueArray(doc, deviceRoot(device));
      for (let i = 1; i <= perDevice; i++) markers.set(THREAD, packMarker(0, i));
      doc.destroy();
      const m = member(device);
      room.join(m);
      writers.push({ room, member: m, updates });
    }
  }
  return { writers, commit, rooms };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function run(): Promise<{ receivedUs: number; deliveredUs: number }> {
  const perDevice = Math.ceil(UPDATES / (ACCOUNTS * DEVICES));
  const { writers, commit, rooms } = await setUp(perDevice);
  await commit.flushed();
  delivered = 0;
  let received = 0;
  // CPU time, not wall time: the machine may be shared, and a wait for a core is not our cost.
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < perDevice; i++) {
    for (let w = 0; w < writers.length; w += TURN) {
      for (const writer of writers.slice(w, w + TURN)) {
        const result = writer.room.receiveUpdate(writer.member, writer.updates[i] as Uint8Array);
        if (result.kind !== 'ok') throw new Error(`refused: ${result.reason}`);
        received++;
      }
      // The commit and its relays run in the next turn: part of the work.
      await nextTurn();
    }
  }
  await commit.flushed();
  const cpu = process.cpuUsage(cpuBefore);
  const busyMs = (cpu.user + cpu.system) / 1_000;
  for (const room of rooms) room.destroy();
  if (delivered !== received * (DEVICES - 1)) throw new Error(`delivered ${delivered} of ${received * (DEVICES - 1)}`);
  return { receivedUs: (busyMs * 1_000) / received, deliveredUs: (busyMs * 1_000) / delivered };
}

const runs: Array<{ receivedUs: number; deliveredUs: number }> = [];
await run(); // warm-up: the JIT compiles the hot path
for (let r = 0; r < RUNS; r++) runs.push(await run());
const receivedUs = median(runs.map((r) => r.receivedUs));
const deliveredUs = median(runs.map((r) => r.deliveredUs));
console.log(
  `${ACCOUNTS} × ${DEVICES}, ${UPDATES} updates in turns of ${TURN}: ${fmt.fixed(receivedUs, 2)} µs per received update, ` +
    `${fmt.fixed(deliveredUs, 2)} µs per delivered (runs: ${runs.map((r) => fmt.fixed(r.receivedUs, 2)).join(', ')})`,
);
emitResult(
  result.finish(
    [],
    [`${fmt.fixed(receivedUs, 2)} µs per received update, ${fmt.fixed(deliveredUs, 2)} µs per delivered`],
    { accounts: ACCOUNTS, devices: DEVICES, turn: TURN, updates: UPDATES, runs, receivedUs, deliveredUs },
  ),
);
