/**
 * Forged numbers in updates and state vectors, sent through a real AccountRoom on a real
 * store (memory and a SQLite file): each is refused, nobody else sees anything, the room keeps
 * serving, and what the store reloads equals the live document. Each attack here was
 * reproduced against the room before the number checks (SPEC RULE-15, RULE-16, SYNC-12,
 * SYNC-13).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloseCode, deviceRoot, HEADS_ROOT, muteKey, packMuteStamp } from '@badgesync/shared';
import { afterAll, afterEach, beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { type RawBlock, type RawRange, rawStateVector, rawUpdate } from '../../shared/test/helpers/raw-update.js';
import { MemoryStore, SqliteStore, type SyncStore } from '../src/store/index.js';
import {
  CHAT,
  contentOf,
  FEED,
  INBOX,
  IPAD,
  MAC,
  PHONE,
  RecordingMember,
  Replica,
  RoomRig,
  valueIn,
} from './room-rig.js';

const dir = mkdtempSync(join(tmpdir(), 'badgesync-room-numbers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const STORES: ReadonlyArray<readonly [string, () => SyncStore]> = [
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore(join(dir, `room-${++files}.db`))],
];

/** A client ID no device has used yet. */
const FRESH = 7777;
const PHONE_CLIENT = 1001;
const MAC_CLIENT = 2002;
const PHONE_ROOT = deviceRoot(PHONE);
const MAC_ROOT = deviceRoot(MAC);

interface World {
  readonly rig: RoomRig;
  readonly phone: Replica;
  readonly mac: Replica;
  readonly macMember: RecordingMember;
  readonly ipadMember: RecordingMember;
}

/**
 * heads inbox 10, chat 5, feed 3; the phone read inbox to 4 and then 6 (its first marker item
 * is deleted, the second live); the Mac read chat to 5; the iPad only listens.
 */
async function makeWorld(store: SyncStore): Promise<World> {
  const rig = new RoomRig(store);
  rig.room.serverWrite(({ heads }) => {
    heads.set(INBOX, 10);
    heads.set(CHAT, 5);
    heads.set(FEED, 3);
  });
  await rig.flushed();
  const phone = new Replica(PHONE, PHONE_CLIENT);
  const mac = new Replica(MAC, MAC_CLIENT);
  const phoneMember = new RecordingMember(PHONE, rig.room);
  const macMember = new RecordingMember(MAC, rig.room);
  const ipadMember = new RecordingMember(IPAD, rig.room);
  phone.pull(rig.room);
  mac.pull(rig.room);
  for (const [member, update] of [
    [phoneMember, phone.write((own) => own.set(INBOX, 4))],
    [phoneMember, phone.write((own) => own.set(INBOX, 6))],
    [macMember, mac.write((own) => own.set(CHAT, 5))],
  ] as const) {
    assert.deepEqual(member.sendUpdate(update), { kind: 'ok' });
  }
  await rig.flushed();
  phone.pull(rig.room);
  mac.pull(rig.room);
  assert.deepEqual(contentOf(rig.room.doc), {
    [MAC_ROOT]: { chat: 5 },
    [PHONE_ROOT]: { inbox: 6 },
    [HEADS_ROOT]: { chat: 5, feed: 3, inbox: 10 },
  });
  return { rig, phone, mac, macMember, ipadMember };
}

/**
 * Sends each update from a new connection of the phone and asserts the whole contract of a
 * refusal: that sender closed with 4400/4403, nothing changed anywhere, the room keeps
 * serving the Mac (its honest write applies and reaches the iPad), and the store reloads to
 * the live document, also after a compaction.
 */
async function assertRefusedAndHarmless(world: World, updates: readonly Uint8Array[]): Promise<void> {
  const { rig, macMember, ipadMember } = world;
  const content = contentOf(rig.room.doc);
  const stateVector = Y.encodeStateVector(rig.room.doc);
  const logCount = rig.logCount();
  const relayed = ipadMember.relayed().length;
  for (const update of updates) {
    const attacker = new RecordingMember(PHONE, rig.room);
    const result = attacker.sendUpdate(update);
    assert.equal(result.kind, 'refused', `accepted: ${Buffer.from(update).toString('hex').slice(0, 120)}`);
    assert.ok(
      attacker.closed?.code === CloseCode.invalidMessage || attacker.closed?.code === CloseCode.forbiddenWrite,
      `closed with ${attacker.closed?.code}`,
    );
  }
  await rig.flushed();
  assert.equal(rig.room.poisoned, false, 'the room keeps its document');
  assert.deepEqual(contentOf(rig.room.doc), content, 'the document did not change');
  assert.deepEqual(Y.encodeStateVector(rig.room.doc), stateVector, 'no struct was added');
  assert.equal(rig.logCount(), logCount, 'nothing was stored');
  assert.equal(ipadMember.relayed().length, relayed, 'nothing was relayed');
  assert.equal(macMember.closed, null, 'the other connections stay open');
  assert.equal(ipadMember.closed, null);
  assert.deepEqual(rig.fatal, []);

  // The room keeps serving: an honest write of another device applies and is relayed.
  const stamp = valueIn(world.mac.doc, MAC_ROOT, muteKey(FEED)) ?? 0;
  const honest = world.mac.write((own) =>
    own.set(muteKey(FEED), packMuteStamp(Math.floor(stamp / 2) + 1, stamp % 2 === 0)),
  );
  assert.deepEqual(macMember.sendUpdate(honest), { kind: 'ok' });
  await rig.flushed();
  assert.equal(ipadMember.relayed().length, relayed + 1, 'the honest write reached the bystander');

  // What the store holds loads, and equals the live document.
  const reloaded = rig.reloaded();
  assert.deepEqual(contentOf(reloaded.doc), contentOf(rig.room.doc));
  assert.deepEqual(Y.encodeStateVector(reloaded.doc), Y.encodeStateVector(rig.room.doc));
  reloaded.destroy();
  const compaction = rig.room.compact();
  assert.ok(compaction, 'the room compacts: every write is on disk');
  await compaction.done;
  const compacted = rig.reloaded();
  assert.deepEqual(contentOf(compacted.doc), contentOf(rig.room.doc));
  compacted.destroy();
}

/** Every item of the reported attack, written under `client` from `clock` on. */
function hostileItems(world: World, client: number, clock: number): RawBlock {
  return {
    client,
    clock,
    structs: [
      { kind: 'item', root: HEADS_ROOT, value: { key: INBOX, val: 0 } },
      { kind: 'item', origin: world.mac.itemId(MAC_ROOT, CHAT), value: { key: CHAT, val: 0 } },
      { kind: 'item', root: PHONE_ROOT, value: { key: muteKey(INBOX), val: 'x' } },
      { kind: 'item', root: PHONE_ROOT, value: { key: INBOX, val: 1.5 } },
    ],
  };
}

for (const [name, makeStore] of STORES) {
  describe(`room: forged numbers in updates (${name})`, () => {
    let world: World;
    beforeEach(async () => {
      world = await makeWorld(makeStore());
    });
    afterEach(() => world.rig.close());

    test('[RULE-15] a GC struct of length 2^53 under a new client, then items at clock 2^53 → 4400, heads and markers untouched', async () => {
      await assertRefusedAndHarmless(world, [
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: 2 ** 53 }] }]),
        rawUpdate([hostileItems(world, FRESH, 2 ** 53)]),
        rawUpdate([
          {
            client: FRESH,
            clock: 0,
            structs: [{ kind: 'gc', len: 2 ** 53 }, ...hostileItems(world, FRESH, 2 ** 53).structs],
          },
        ]),
        // The same at the last exact clock: clock + length would pass 2^53 − 1.
        rawUpdate([hostileItems(world, FRESH, 2 ** 53 - 2)]),
      ]);
    });

    test('[RULE-16] a GC struct that advances a new client past MAX_CLOCK_ADVANCE (up to 2^53 − 1) → 4400', async () => {
      await assertRefusedAndHarmless(world, [
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: 2 ** 53 - 1 }] }]),
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: 2 ** 24 + 1 }] }]),
        rawUpdate([
          {
            client: PHONE_CLIENT,
            clock: Y.getState(world.rig.room.doc.store, PHONE_CLIENT),
            structs: [{ kind: 'gc', len: 2 ** 32 }, ...hostileItems(world, PHONE_CLIENT, 0).structs],
          },
        ]),
      ]);
    });

    test('[RULE-15] a delete range of length NaN next to a real one → 4400, the own marker stays', async () => {
      const marker = world.phone.itemId(PHONE_ROOT, INBOX);
      const ranges: RawRange[] = [
        { client: PHONE_CLIENT, clock: 0, len: 1 },
        { client: PHONE_CLIENT, clock: marker.clock, len: Number.NaN },
      ];
      await assertRefusedAndHarmless(world, [
        rawUpdate([], ranges),
        rawUpdate([], [{ client: PHONE_CLIENT, clock: marker.clock, len: Number.POSITIVE_INFINITY }]),
        rawUpdate([], [{ client: PHONE_CLIENT, clock: Number.NaN, len: 1 }]),
        rawUpdate([], [{ client: PHONE_CLIENT, clock: marker.clock, len: 2 ** 53 }]),
      ]);
    });

    test('[RULE-15] a block at clock NaN (or Infinity) overwriting the own marker → 4400', async () => {
      const marker = world.phone.itemId(PHONE_ROOT, INBOX);
      await assertRefusedAndHarmless(world, [
        rawUpdate([
          { client: PHONE_CLIENT, clock: Number.NaN, structs: [{ kind: 'item', origin: marker, deleted: 1 }] },
        ]),
        rawUpdate([
          {
            client: PHONE_CLIENT,
            clock: Number.POSITIVE_INFINITY,
            structs: [{ kind: 'item', origin: marker, value: { key: INBOX, val: 7 } }],
          },
        ]),
      ]);
    });

    test('[RULE-15] an origin or right origin clock of NaN → 4400 every time, the room is never poisoned', async () => {
      const clock = Y.getState(world.rig.room.doc.store, PHONE_CLIENT);
      const nanOrigin = rawUpdate([
        {
          client: PHONE_CLIENT,
          clock,
          structs: [{ kind: 'item', origin: { client: PHONE_CLIENT, clock: Number.NaN }, value: 7 }],
        },
      ]);
      await assertRefusedAndHarmless(world, [
        nanOrigin,
        nanOrigin,
        nanOrigin,
        rawUpdate([
          {
            client: PHONE_CLIENT,
            clock,
            structs: [{ kind: 'item', rightOrigin: { client: PHONE_CLIENT, clock: Number.NaN }, value: 7 }],
          },
        ]),
        rawUpdate([
          {
            client: PHONE_CLIENT,
            clock,
            structs: [{ kind: 'item', origin: { client: 2 ** 53, clock: 0 }, value: 7 }],
          },
        ]),
      ]);
    });

    test('[RULE-15] a GC struct of length Infinity → 4400 at once (applying it never returned)', async () => {
      await assertRefusedAndHarmless(world, [
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: Number.POSITIVE_INFINITY }] }]),
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'skip', len: Number.POSITIVE_INFINITY }] }]),
      ]);
    });

    test('[RULE-15] a GC struct of length NaN → 4400; the account still loads after compaction', async () => {
      await assertRefusedAndHarmless(world, [
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: Number.NaN }] }]),
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'item', root: PHONE_ROOT, deleted: Number.NaN }] }]),
        rawUpdate([{ client: FRESH, clock: 0, structs: [{ kind: 'gc', len: 0 }] }]),
      ]);
    });

    test('[RULE-15] client IDs outside 32 bits (2^32, 2^53, NaN) → 4400', async () => {
      await assertRefusedAndHarmless(world, [
        rawUpdate([
          {
            client: 2 ** 32,
            clock: 0,
            structs: [{ kind: 'item', root: PHONE_ROOT, value: { key: muteKey(FEED), val: 3 } }],
          },
        ]),
        rawUpdate([
          {
            client: 2 ** 53,
            clock: 0,
            structs: [{ kind: 'item', root: PHONE_ROOT, value: { key: muteKey(FEED), val: 3 } }],
          },
        ]),
        rawUpdate([
          {
            client: Number.NaN,
            clock: 0,
            structs: [{ kind: 'item', root: PHONE_ROOT, value: { key: muteKey(FEED), val: 3 } }],
          },
        ]),
        rawUpdate([], [{ client: Number.NaN, clock: 0, len: 1 }]),
      ]);
    });

    test('[SYNC-12] a step 1 whose state vector holds NaN, Infinity, 2^53 or a 33-bit client → 4400, the others are served', async () => {
      const { rig, macMember } = world;
      for (const entries of [
        [{ client: PHONE_CLIENT, clock: Number.NaN }],
        [{ client: PHONE_CLIENT, clock: Number.POSITIVE_INFINITY }],
        [{ client: PHONE_CLIENT, clock: 2 ** 53 }],
        [{ client: 2 ** 32, clock: 1 }],
        [{ client: Number.NaN, clock: 1 }],
      ] as const) {
        const asker = new RecordingMember(PHONE, rig.room);
        rig.room.answerStep1(asker, rawStateVector(entries));
        await rig.flushed();
        assert.equal(asker.closed?.code, CloseCode.invalidMessage, JSON.stringify(entries));
      }
      const before = macMember.received.length;
      rig.room.answerStep1(macMember, Y.encodeStateVector(world.mac.doc));
      await rig.flushed();
      assert.equal(macMember.received.length, before + 1, 'an honest step 1 is answered');
      assert.equal(macMember.closed, null);
      await assertRefusedAndHarmless(world, []);
    });

    test('[SYNC-13] a throw while applying an accepted update closes its sender with 4400; nothing of it is stored', async () => {
      const { rig, macMember, ipadMember } = world;
      const logCount = rig.logCount();
      const relayed = ipadMember.relayed().length;
      const throwOnce = (): void => {
        rig.room.doc.off('beforeObserverCalls', throwOnce);
        throw new Error('injected');
      };
      rig.room.doc.on('beforeObserverCalls', throwOnce);
      const sender = new RecordingMember(MAC, rig.room);
      const result = sender.sendUpdate(world.mac.write((own) => own.set(muteKey(INBOX), packMuteStamp(1, true))));
      assert.equal(result.kind, 'refused');
      assert.equal(sender.closed?.code, CloseCode.invalidMessage, 'the sender must not resend it');
      await rig.flushed();
      assert.equal(rig.logCount(), logCount, 'the half-applied update was not stored');
      assert.equal(ipadMember.relayed().length, relayed, 'nor relayed');
      // Memory is ahead of the disk: the room is dropped and the others reconnect to a reload.
      assert.equal(rig.room.poisoned, true);
      assert.equal(macMember.closed?.code, CloseCode.tryAgainLater);
      const reloaded = rig.reloaded();
      assert.equal(valueIn(reloaded.doc, MAC_ROOT, muteKey(INBOX)), undefined);
      reloaded.destroy();
    });
  });
}
