/**
 * What the room stores and relays for an accepted update (SPEC SYNC-15): the bytes it received
 * when the update applied whole, Yjs's encoding of the change otherwise; and an update with one
 * refused part is refused whole (SYNC-3).
 */
import assert from 'node:assert/strict';
import {
  type AccountId,
  CloseCode,
  type DeviceId,
  decodeMessage,
  deviceRoot,
  KeyValueArray,
  type ThreadId,
} from '@badgesync/shared';
import { afterEach, beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { DeviceConnection } from './device-connection.js';
import { RoomHarness } from './room-harness.js';
import { valueIn } from './room-rig.js';

const REMOTE = Symbol('remote');
const INBOX = 'inbox' as ThreadId;
const CHAT = 'chat' as ThreadId;
const PHONE_ROOT = deviceRoot('phone-a' as DeviceId);
const MAC_ROOT = deviceRoot('mac-b' as DeviceId);

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

/** The payloads of the updates waiting for `d`, in order (its socket's frames, not delivered). */
function relayedTo(d: Device): Uint8Array[] {
  const pair = d.connection.pair;
  assert.ok(pair !== null);
  return pair.toClient.flatMap((frame) => {
    if (frame.kind !== 'message') return [];
    const message = decodeMessage(frame.data);
    return message.type === 'update' ? [message.update] : [];
  });
}

/**
 * The same update in bytes Yjs never writes itself: its first number (the client block count,
 * below 128) as a two-byte varint. Yjs reads it alike; a re-encoding would write one byte, so
 * only bytes passed on as received arrive unchanged.
 */
function spelledOut(update: Uint8Array): Uint8Array {
  const blocks = update[0] as number;
  assert.ok(blocks < 0x80);
  return Uint8Array.from([0x80 | blocks, 0x00, ...update.subarray(1)]);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

beforeEach(async () => {
  let next = 9000;
  harness = new RoomHarness('alice' as AccountId, () => next++);
  harness.ingest(INBOX, 10);
  harness.ingest(CHAT, 10);
  phone = device('phone-a', 1001);
  mac = device('mac-b', 2002);
  await sync();
  // A marker the next write replaces: that update inserts one entry and deletes one.
  new KeyValueArray(phone.doc, PHONE_ROOT).set(INBOX, 2);
  phone.connection.sendUpdate(Y.mergeUpdates(phone.local.splice(0)));
  await sync();
  assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), 2);
});

afterEach(() => harness.close());

describe('bytes stored and relayed', () => {
  for (const as of ['update', 'step2'] as const) {
    test(`[SYNC-15] an update that applies whole (sent as ${as}) is stored and relayed byte for byte as received`, async () => {
      new KeyValueArray(phone.doc, PHONE_ROOT).set(INBOX, 7);
      const sent = spelledOut(Y.mergeUpdates(phone.local.splice(0)));
      const stored = harness.storedUpdates().length;
      if (as === 'update') phone.connection.sendUpdate(sent);
      else phone.connection.sendStep2(sent);
      phone.connection.deliverToServer(1);
      await harness.committed();

      const log = harness.storedUpdates();
      assert.equal(log.length, stored + 1, 'one log entry');
      assert.equal(hex(log[log.length - 1] as Uint8Array), hex(sent), 'stored as received');
      const relayed = relayedTo(mac);
      assert.equal(relayed.length, 1, 'one relay');
      assert.equal(hex(relayed[0] as Uint8Array), hex(sent), 'relayed as received');
      assert.equal(phone.connection.pair?.toClient.length, 0, 'not sent back to its sender');
      mac.connection.deliverToDevice(Number.POSITIVE_INFINITY);
      assert.equal(valueIn(mac.doc, PHONE_ROOT, INBOX), 7);
      assert.deepEqual(harness.errors(), []);
    });
  }

  test('[SYNC-15] an update holding what the server has already is stored and relayed as only what it changed', async () => {
    new KeyValueArray(phone.doc, PHONE_ROOT).set(INBOX, 8);
    phone.local.length = 0;
    // A step 2 with the phone's whole document: the heads and the old marker the server has.
    const sent = Y.encodeStateAsUpdate(phone.doc);
    const stored = harness.storedUpdates().length;
    phone.connection.sendStep2(sent);
    phone.connection.deliverToServer(1);
    await harness.committed();

    const log = harness.storedUpdates();
    assert.equal(log.length, stored + 1);
    const change = log[log.length - 1] as Uint8Array;
    assert.notEqual(hex(change), hex(sent), 'not stored as received');
    assert.ok(change.byteLength < sent.byteLength, 'only the change');
    assert.deepEqual(relayedTo(mac).map(hex), [hex(change)], 'relayed as stored');
    mac.connection.deliverToDevice(Number.POSITIVE_INFINITY);
    assert.equal(valueIn(mac.doc, PHONE_ROOT, INBOX), 8);
    assert.deepEqual(harness.errors(), []);
  });

  test('[SYNC-3] [SYNC-15] an update with one refused part is refused whole: nothing applied, stored or relayed', async () => {
    // One update: the phone's own marker (allowed) and a marker in the mac's array (refused).
    new KeyValueArray(phone.doc, PHONE_ROOT).set(INBOX, 9);
    new KeyValueArray(phone.doc, MAC_ROOT).set(CHAT, 3);
    const sent = Y.mergeUpdates(phone.local.splice(0));
    const pair = phone.connection.pair;
    assert.ok(pair !== null);
    const stored = harness.storedUpdates().map(hex);
    const state = Y.encodeStateVector(harness.room.doc);
    phone.connection.sendUpdate(sent);
    phone.connection.deliverToServer(1);
    await harness.committed();

    assert.equal(pair.ended?.code, CloseCode.forbiddenWrite);
    assert.deepEqual(harness.storedUpdates().map(hex), stored, 'nothing stored');
    assert.deepEqual(relayedTo(mac), [], 'nothing relayed');
    assert.deepEqual(Y.encodeStateVector(harness.room.doc), state, 'nothing applied');
    assert.equal(valueIn(harness.room.doc, PHONE_ROOT, INBOX), 2, 'not even the allowed part');
    assert.equal(valueIn(harness.room.doc, MAC_ROOT, CHAT), undefined);
    assert.ok(mac.connection.online, 'the other device stays connected');
  });
});
