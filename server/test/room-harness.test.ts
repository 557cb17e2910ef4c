/**
 * The in-process harness itself, on the orderings the property tests rely on: what the
 * room sends waits for the group commit, a refusal closes only its sender after what was
 * queued before it, and a crash loses exactly what was not yet written.
 */
import assert from 'node:assert/strict';
import {
  type AccountId,
  CloseCode,
  type DeviceId,
  deviceRoot,
  HEADS_ROOT,
  KeyValueArray,
  type ThreadId,
} from '@badgesync/shared';
import { afterEach, beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { DeviceConnection } from './device-connection.js';
import { RoomHarness } from './room-harness.js';
import { valueIn } from './room-rig.js';
import { ABNORMAL_CLOSURE } from './socket-pair.js';

const REMOTE = Symbol('remote');
const INBOX = 'inbox' as ThreadId;
const PHONE_ROOT = deviceRoot('phone-a' as DeviceId);

/** `device` writes `key = val` into `root` through KeyValueArray (its own array, or, forged, another's). */
function write(device: Device, root: string, key: string, val: number): void {
  new KeyValueArray(device.doc, root).set(key, val);
}

interface Device {
  readonly doc: Y.Doc;
  readonly connection: DeviceConnection;
  /** Local updates not sent yet. */
  readonly local: Uint8Array[];
}

function device(id: string, clientId: number): Device {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  const local: Uint8Array[] = [];
  doc.on('update', (update: Uint8Array, origin: unknown) => {
    if (origin !== REMOTE) local.push(update);
  });
  return { doc, connection: new DeviceConnection(id as DeviceId, () => doc, REMOTE), local };
}

let harness: RoomHarness;
let phone: Device;
let mac: Device;

/** Connects both devices and delivers everything, commits included. */
async function sync(): Promise<void> {
  for (let round = 0; round < 10; round++) {
    for (const d of [phone, mac]) {
      d.connection.open(harness);
      d.connection.deliverToServer(Number.POSITIVE_INFINITY);
      d.connection.deliverToDevice(Number.POSITIVE_INFINITY);
    }
    await harness.committed();
  }
}

beforeEach(async () => {
  let next = 9000;
  harness = new RoomHarness('alice' as AccountId, () => next++);
  harness.ingest(INBOX, 10);
  phone = device('phone-a', 1001);
  mac = device('mac-b', 2002);
  await sync();
  assert.equal(valueIn(phone.doc, HEADS_ROOT, INBOX), 10);
  assert.equal(valueIn(mac.doc, HEADS_ROOT, INBOX), 10);
});

afterEach(() => harness.close());

describe('room harness', () => {
  test('[SYNC-5] an update is relayed to the other device only once the group commit wrote it, never back to its sender', async () => {
    write(phone, PHONE_ROOT, INBOX, 4);
    phone.connection.sendUpdate(Y.mergeUpdates(phone.local.splice(0)));
    phone.connection.deliverToServer(1);
    assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), 4, 'applied at once');
    assert.equal(mac.connection.pair?.toClient.length, 0, 'nothing relayed before the commit');
    assert.equal(harness.storedUpdates().length, 1, 'nothing stored before the commit');
    await harness.committed();
    assert.equal(harness.storedUpdates().length, 2);
    assert.equal(mac.connection.pair?.toClient.length, 1);
    assert.equal(phone.connection.pair?.toClient.length, 0, 'not sent back to its sender');
    mac.connection.deliverToDevice(1);
    assert.equal(valueIn(mac.doc, PHONE_ROOT, INBOX), 4);
  });

  test('[SYNC-3] a write into another device’s array closes only its sender with 4403, after what was queued before it', async () => {
    const pair = mac.connection.pair;
    assert.ok(pair !== null);
    harness.ingest(INBOX, 1);
    await harness.committed();
    write(mac, PHONE_ROOT, INBOX, 11);
    mac.connection.sendUpdate(Y.mergeUpdates(mac.local.splice(0)));
    mac.connection.deliverToServer(1);
    assert.equal(pair.ended?.code, CloseCode.forbiddenWrite);
    assert.deepEqual(
      pair.toClient.map((frame) => frame.kind),
      ['message', 'close'],
      'the relay of the new head, then the close',
    );
    mac.connection.deliverToDevice(Number.POSITIVE_INFINITY);
    assert.deepEqual(mac.connection.closes, [CloseCode.forbiddenWrite]);
    assert.equal(valueIn(mac.doc, HEADS_ROOT, INBOX), 11, 'the relay before the close arrived');
    assert.equal(harness.room.members.size, 1, 'the sender left the room');
    assert.ok(phone.connection.online, 'the other device stays connected');
    await harness.committed();
    assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), undefined, 'nothing applied');
  });

  test('[STORE-17] a crash loses what the group commit had not written, and nothing that was relayed', async () => {
    write(phone, PHONE_ROOT, INBOX, 3);
    phone.connection.sendUpdate(Y.mergeUpdates(phone.local.splice(0)));
    phone.connection.deliverToServer(1);
    harness.crash();
    assert.deepEqual(phone.connection.closes, [ABNORMAL_CLOSURE]);
    assert.deepEqual(mac.connection.closes, [ABNORMAL_CLOSURE]);
    assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), undefined, 'the new room lacks it');
    assert.equal(valueIn(mac.doc, PHONE_ROOT, INBOX), undefined, 'it was never relayed');
    // The phone's next sync step 2 brings it again.
    await sync();
    assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), 3);
    assert.equal(valueIn(mac.doc, PHONE_ROOT, INBOX), 3);
    assert.deepEqual(harness.problems, []);
  });
});
