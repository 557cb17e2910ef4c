/**
 * What a room answers a sync step 1, and when, next to a device's own overwrites: the case
 * the fuzzer pinned (in contract v1) as test/fuzz/regressions/sync-delete-set-removes-another-devices-marker.json,
 * here with v2's arrays.
 * The iPad asks with a state vector that claims the Mac's marker item (and more of its own
 * than the server has), then overwrites its own marker and mute (a delete range over its own
 * two items), then asks again with an empty state vector. The server's document keeps the
 * Mac's marker; the first answer lacks it because the iPad claimed it, which is what Yjs
 * answers; the second answer waits for the write to be on disk and holds everything.
 */
import assert from 'node:assert/strict';
import { decodeMessage, deviceRoot, HEADS_ROOT, muteKey, packMuteStamp, type ThreadId } from '@badgesync/shared';
import { afterEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { MemoryStore } from '../src/store/index.js';
import { contentOf, INBOX, IPAD, MAC, RecordingMember, Replica, RoomRig } from './room-rig.js';

const MAC_CLIENT = 4162528529;
const IPAD_CLIENT = 3253004185;
/** A client ID that appears nowhere but in the iPad's claimed state vector. */
const STRANGER = 576280877;
const NEWS = 'news' as ThreadId;

/** The step 2 answers `member` received, in order, each applied to a fresh document. */
function answers(member: RecordingMember): Y.Doc[] {
  const docs: Y.Doc[] = [];
  for (const bytes of member.received) {
    const message = decodeMessage(bytes);
    if (message.type !== 'step2') continue;
    const doc = new Y.Doc();
    Y.applyUpdate(doc, message.update);
    assert.equal(doc.store.pendingStructs, null, 'an answer applies whole');
    docs.push(doc);
  }
  return docs;
}

function stateVector(entries: ReadonlyArray<readonly [number, number]>): Uint8Array {
  return Y.encodeStateVector(new Map(entries));
}

let rig: RoomRig | null = null;
afterEach(() => {
  rig?.close();
  rig = null;
});

describe('step 1 answers next to a delete range over the sender’s own items', () => {
  test('[SYNC-5] overwriting its own marker and mute never removes another device’s marker; the later step 1 is answered after the write is on disk', async () => {
    rig = new RoomRig(new MemoryStore());
    const room = rig.room;
    room.serverWrite(({ heads }) => {
      heads.set(INBOX, 100);
      heads.set(NEWS, 100);
    });
    await rig.flushed();

    const mac = new Replica(MAC, MAC_CLIENT);
    const macMember = new RecordingMember(MAC, room);
    mac.pull(room);
    assert.deepEqual(macMember.sendUpdate(mac.write((own) => own.set(INBOX, 3))), { kind: 'ok' });
    const ipad = new Replica(IPAD, IPAD_CLIENT);
    const ipadMember = new RecordingMember(IPAD, room);
    ipad.pull(room);
    assert.deepEqual(ipadMember.sendUpdate(ipad.write((own) => own.set(muteKey(NEWS), packMuteStamp(1, true)))), {
      kind: 'ok',
    });
    assert.deepEqual(ipadMember.sendUpdate(ipad.write((own) => own.set(INBOX, 2 ** 32 + 4))), { kind: 'ok' });
    await rig.flushed();
    const macRoot = deviceRoot(MAC);

    // A new connection of the iPad: a step 1 claiming the Mac's item, two items of its own it
    // does not have, and a stranger; then its overwrites; then a step 1 asking for everything.
    const asker = new RecordingMember(IPAD, room);
    room.answerStep1(
      asker,
      stateVector([
        [MAC_CLIENT, 1],
        [IPAD_CLIENT, 4],
        [STRANGER, 4],
      ]),
    );
    const overwrite = ipad.write((own) => {
      own.set(INBOX, 2 ** 32 + 6);
      own.set(muteKey(NEWS), packMuteStamp(2, false));
    });
    const { ds } = Y.decodeUpdate(overwrite);
    assert.deepEqual(
      [...ds.clients].map(([client, ranges]) => [client, ranges.map((r) => [r.clock, r.len])]),
      [[IPAD_CLIENT, [[0, 2]]]],
      'the overwrite deletes the iPad’s own two items',
    );
    assert.deepEqual(asker.sendUpdate(overwrite), { kind: 'ok' });
    room.answerStep1(asker, stateVector([]));

    // The second answer waits for the overwrite to be on disk; the first went out at once.
    assert.equal(answers(asker).length, 1, 'the step 1 after the write is not answered before the commit');
    await rig.flushed();
    const [claimed, everything] = answers(asker);
    assert.ok(claimed !== undefined && everything !== undefined, 'both step 1s are answered, in order');

    const want = {
      [deviceRoot(IPAD)]: { inbox: 2 ** 32 + 6, [muteKey(NEWS)]: packMuteStamp(2, false) },
      [macRoot]: { inbox: 3 },
      [HEADS_ROOT]: { inbox: 100, news: 100 },
    };
    assert.deepEqual(contentOf(room.doc), want, 'the server keeps the Mac’s marker');
    assert.deepEqual(contentOf(everything), want, 'the answer to an empty state vector holds it');
    assert.equal(
      contentOf(claimed)[macRoot],
      undefined,
      'the answer to the claimed state vector leaves out what the asker claimed to have',
    );
    const reloaded = rig.reloaded();
    assert.deepEqual(contentOf(reloaded.doc), want, 'the store reloads the same document');
    reloaded.destroy();
    assert.equal(macMember.closed, null);
    assert.deepEqual(
      macMember.relayed().map((update) => Y.decodeUpdate(update).ds.clients.has(MAC_CLIENT)),
      [false, false, false],
      'nothing relayed to the Mac deletes any of its items',
    );
  });
});
