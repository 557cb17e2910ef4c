/**
 * The write rules of contract v2, one forged kind per test. Every refusal must leave the
 * server document as it was (checkUpdate is pure and the server applies nothing it refused),
 * carry the right close code (4400 for what is not a valid update, 4410 for v1 content, 4403
 * for a valid update that breaks a rule) and name its reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  CloseCode,
  checkUpdate,
  type DeviceId,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  MAX_MUTE_LEAD,
  muteKey,
  packMarker,
  packMuteStamp,
  RefusalReason,
  refusalCode,
  SERVER_DEVICE,
  type ThreadId,
  type Verdict,
} from '../src/index.js';
import { type ForgedContent, forgeUpdate, unforge } from './helpers/forge.js';
import { ruleViolations } from './helpers/oracle.js';
import { A, B, C, CLIENT, DeviceReplica, makeWorld, REMOTE, type World } from './helpers/world.js';

const INBOX = 'inbox' as ThreadId;
const CHAT = 'chat:1' as ThreadId;
const FEED = 'feed.x' as ThreadId;

/** Where the world put things: a's inbox marker 4 at 1001:0, b's chat:1 marker 5 at 2002:0 (c's feed.x mute at 3003:0). */
const A_INBOX = { client: CLIENT.a, clock: 0 };
const B_CHAT = { client: CLIENT.b, clock: 0 };
const ROOT_A = deviceRoot(A);

/** Runs `write` on a replica and returns the update it made. */
function updateOf(replica: DeviceReplica, write: (doc: Y.Doc) => void): Uint8Array {
  write(replica.doc);
  const update = replica.take();
  assert.ok(update !== null, 'the write changed nothing');
  return update;
}

/** A throwaway copy of a replica under the same client ID, to write what an honest SDK never would. */
function scratch(replica: DeviceReplica): DeviceReplica {
  const copy = new DeviceReplica(replica.id);
  Y.applyUpdate(copy.doc, Y.encodeStateAsUpdate(replica.doc), REMOTE);
  copy.doc.clientID = replica.clientId;
  return copy;
}

function array(doc: Y.Doc, root: string): Y.Array<unknown> {
  return doc.getArray<unknown>(root);
}

/** An item of `client` at `clock` with `content`, placed after `origin` (or at the start of `root`). */
function insert(
  client: number,
  clock: number,
  where: { origin: { client: number; clock: number } } | { root: string },
  content: ForgedContent,
): Uint8Array {
  const item =
    'origin' in where
      ? { kind: 'item' as const, origin: where.origin, content }
      : { kind: 'item' as const, parent: where.root, content };
  return forgeUpdate([{ client, clock, structs: [item] }]);
}

/** Sends `update` as `device`, asserting that checking it left the server document untouched. */
function send(world: World, device: DeviceId, update: Uint8Array): Verdict {
  const { server } = world;
  const before = Y.encodeStateAsUpdate(server.doc);
  const roots = [...server.doc.share.keys()].sort();
  const verdict = server.receive(device, update);
  if (verdict.kind !== 'accept') {
    assert.deepEqual(Y.encodeStateAsUpdate(server.doc), before, 'a refused update changed the server document');
    assert.deepEqual([...server.doc.share.keys()].sort(), roots, 'checking created a root');
  }
  return verdict;
}

function assertRefused(world: World, device: DeviceId, update: Uint8Array, reason: RefusalReason): void {
  const verdict = send(world, device, update);
  assert.equal(verdict.kind, 'refuse', `expected a refusal (${reason}), got ${JSON.stringify(verdict)}`);
  if (verdict.kind !== 'refuse') return;
  assert.equal(verdict.reason, reason, verdict.detail);
  assert.equal(verdict.code, refusalCode(reason));
  assert.ok(verdict.reason in RefusalReason);
  assert.ok(verdict.detail.length > 0 && verdict.detail.length < 400);
}

function assertAccepted(world: World, device: DeviceId, update: Uint8Array): Extract<Verdict, { kind: 'accept' }> {
  const { server } = world;
  const before = server.clone();
  const bindings = new Map(server.bindings);
  const clientId = server.doc.clientID;
  const verdict = send(world, device, update);
  assert.equal(verdict.kind, 'accept', JSON.stringify(verdict));
  assert.deepEqual(ruleViolations(before, server.doc, device, bindings, clientId), []);
  return verdict as Extract<Verdict, { kind: 'accept' }>;
}

/** Applying `update` to a copy of the server breaks a rule: the forgery is real, not just odd bytes. */
function assertHarmful(world: World, device: DeviceId, update: Uint8Array): void {
  const { server } = world;
  const copy = server.clone();
  let threw = false;
  try {
    Y.applyUpdate(copy, update);
  } catch {
    threw = true;
  }
  const broken = threw ? ['throws'] : ruleViolations(server.doc, copy, device, server.bindings, server.doc.clientID);
  assert.notDeepEqual(broken, [], 'this forgery would do no harm; the test proves nothing');
}

/**
 * A's inbox with two entries for one thread (4 synced, 3 written by an unsynced reinstall
 * and accepted); returns the update, made on a synced copy, that deletes the entry holding `val`.
 */
function deleteDuplicate(world: World, val: number): Uint8Array {
  const unsynced = new DeviceReplica(A, 1112);
  assertAccepted(
    world,
    A,
    updateOf(unsynced, () => new KeyValueArray(unsynced.doc, ROOT_A).set(INBOX, 3)),
  );
  const copy = scratch(world.a);
  copy.pull(world.server);
  const items = array(copy.doc, ROOT_A).toArray() as Entry[];
  return updateOf(copy, (doc) =>
    array(doc, ROOT_A).delete(
      items.findIndex((e) => e.val === val),
      1,
    ),
  );
}

/** The structs and delete set of an update, as text. */
function summary(update: Uint8Array): string {
  const { structs, ds } = Y.decodeUpdate(update);
  const lines = structs.map((s) =>
    s instanceof Y.Item
      ? `${s.id.client}:${s.id.clock} ${JSON.stringify([s.origin, s.rightOrigin, s.parent, s.parentSub, s.content.constructor.name, s.content.getContent()])}`
      : `${s.constructor.name} ${s.id.client}:${s.id.clock}+${s.length}`,
  );
  for (const [client, ranges] of ds.clients) lines.push(`ds ${client} ${JSON.stringify(ranges)}`);
  return lines.join('\n');
}

function liveOf(world: World, device: DeviceId, key: string): number[] {
  return world.server.tracker
    .liveEntries(device, key)
    .map((e) => e.val)
    .sort((x, y) => x - y);
}

describe('write rules v2: honest updates', () => {
  test('[RULE-25] a first marker, then a replacement, are accepted; the first use of a client ID binds it', () => {
    const world = makeWorld();
    const fresh = new DeviceReplica('tv-d' as DeviceId, 4004);
    fresh.pull(world.server);
    fresh.read(INBOX, 6);
    const first = assertAccepted(world, fresh.id, fresh.take() as Uint8Array);
    assert.deepEqual(first.newClients, [4004]);
    assert.equal(world.server.bindings.get(4004), fresh.id);
    fresh.read(INBOX, 9);
    const second = assertAccepted(world, fresh.id, fresh.take() as Uint8Array);
    assert.deepEqual(second.newClients, []);
    assert.equal(world.server.tracker.unread(INBOX), 1);
    assert.deepEqual(liveOf(world, fresh.id, INBOX), [9]);
  });

  test('[RULE-25] several sets of one marker and mutes made offline arrive in one update and are accepted', () => {
    const world = makeWorld();
    const { a } = world;
    a.read(INBOX, 5);
    a.read(CHAT, 2);
    a.read(INBOX, 7);
    a.unread(INBOX, 3);
    a.mute(FEED, false);
    a.read(INBOX, 9);
    a.mute(CHAT, true);
    assertAccepted(world, A, a.take() as Uint8Array);
    assert.equal(world.server.tracker.maxMarker(INBOX), packMarker(1, 9));
    assert.equal(world.server.tracker.isMuted(FEED), false);
    assert.equal(world.server.tracker.isMuted(CHAT), true);
  });

  for (const order of ['first session first', 'second session first'] as const) {
    test(`[RULE-25] two sessions of one device writing one thread concurrently are both accepted (${order})`, () => {
      const world = makeWorld();
      const one = world.a;
      const two = new DeviceReplica(A, 1102);
      two.pull(world.server);
      // Both have a's inbox marker 4; each replaces it, neither sees the other.
      one.read(INBOX, 7);
      one.mute(CHAT, true);
      two.read(INBOX, 6);
      two.mute(CHAT, false);
      two.mute(CHAT, true);
      const updates = [one.take() as Uint8Array, two.take() as Uint8Array];
      if (order === 'second session first') updates.reverse();
      for (const update of updates) assertAccepted(world, A, update);
      // Both entries of the key live: the larger decides, nothing is lost.
      assert.deepEqual(liveOf(world, A, INBOX), [packMarker(0, 6), packMarker(0, 7)]);
      assert.equal(world.server.tracker.maxMarker(INBOX), 7);
      assert.equal(world.server.tracker.isMuted(CHAT), true);
      // [DOC-13] A later set by either session (once synced) removes the duplicates.
      two.pull(world.server);
      two.read(INBOX, 8);
      assertAccepted(world, A, two.take() as Uint8Array);
      assert.deepEqual(liveOf(world, A, INBOX), [8]);
      // The other session, synced, sends its step 2: nothing new.
      one.pull(world.server);
      assert.equal(assertAccepted(world, A, one.step2(world.server)).changes, false);
    });
  }

  test('[RULE-25] a device offline for long (other devices and its other session wrote meanwhile) reconnects with its step 2', () => {
    const world = makeWorld();
    const { a, b, server } = world;
    const offline = new DeviceReplica(A, 1103);
    offline.pull(server);
    a.read(INBOX, 6);
    for (const verdict of a.push(server)) assert.equal(verdict.kind, 'accept');
    server.ingest(INBOX, 5);
    b.pull(server);
    b.unread(INBOX, 2);
    for (const verdict of b.push(server)) assert.equal(verdict.kind, 'accept');
    offline.read(INBOX, 10);
    offline.read(CHAT, 3);
    offline.mute(INBOX, true);
    const step2 = offline.step2(server);
    assertAccepted(world, A, step2);
    // b's unread (a newer epoch) still wins over the offline read of the old epoch.
    assert.equal(server.tracker.maxMarker(INBOX), packMarker(1, 1));
  });

  test('[RULE-11] a re-sent sync step 2 is accepted with changes = false', () => {
    const world = makeWorld();
    const verdict = assertAccepted(world, A, Y.encodeStateAsUpdate(world.a.doc));
    assert.equal(verdict.changes, false);
  });

  test('[RULE-25] a sync step 2 against an older state vector (re-sending part of an item the server has) is accepted', () => {
    const world = makeWorld();
    const { a, server } = world;
    const staleVector = Y.encodeStateVector(server.doc);
    a.read(INBOX, 5);
    assertAccepted(world, A, a.take() as Uint8Array);
    a.read(INBOX, 6);
    a.read(INBOX, 7);
    const step2 = Y.encodeStateAsUpdate(a.doc, staleVector);
    const first = Y.decodeUpdate(step2).structs.find((s) => s.id.client === CLIENT.a && s.id.clock <= 1);
    assert.ok(first && first.id.clock + first.length > 2, 'no item straddles the server’s state');
    assertAccepted(world, A, step2);
    assert.equal(server.tracker.markers(INBOX).get(A), 7);
  });

  test('[MARK-5] a reinstall that synced first continues its old marker under a new client ID', () => {
    const world = makeWorld();
    const reinstall = new DeviceReplica(A, 1111);
    reinstall.pull(world.server);
    reinstall.read(INBOX, 8);
    const verdict = assertAccepted(world, A, reinstall.take() as Uint8Array);
    assert.deepEqual(verdict.newClients, [1111]);
  });

  test('[RULE-25] a reinstall that writes before it synced adds a second entry; the larger still decides', () => {
    const world = makeWorld();
    const unsynced = new DeviceReplica(A, 1112);
    const update = updateOf(unsynced, () => new KeyValueArray(unsynced.doc, ROOT_A).set(INBOX, 3));
    assertAccepted(world, A, update);
    assert.deepEqual(liveOf(world, A, INBOX), [3, 4]);
  });

  test('[RULE-8] a marker may read up to the head, and [RULE-7] mark unread up to MAX_EPOCH_LEAD epochs ahead', () => {
    const world = makeWorld();
    const kv = () => new KeyValueArray(world.a.doc, ROOT_A);
    assertAccepted(
      world,
      A,
      updateOf(world.a, () => kv().set(INBOX, packMarker(MAX_EPOCH_LEAD, 10))),
    );
  });

  test('[RULE-24] any device may mute and unmute any thread, up to MAX_MUTE_LEAD counters ahead', () => {
    const world = makeWorld();
    world.a.mute(FEED, false);
    assertAccepted(world, A, world.a.take() as Uint8Array);
    assert.equal(world.server.tracker.isMuted(FEED), false);
    world.b.pull(world.server);
    world.b.mute(FEED, true);
    assertAccepted(world, B, world.b.take() as Uint8Array);
    assert.equal(world.server.tracker.isMuted(FEED), true);
    const counter = 2 + MAX_MUTE_LEAD; // the thread's counter is 2 now
    assertAccepted(
      world,
      C,
      updateOf(world.c, () =>
        new KeyValueArray(world.c.doc, deviceRoot(C)).set(muteKey(FEED), packMuteStamp(counter, false)),
      ),
    );
  });
});

describe('write rules v2: roots and v1 content', () => {
  test('[RULE-18] a v1 replica writing the reads map is closed 4410 (v1_document)', () => {
    const world = makeWorld();
    const v1 = new Y.Doc();
    v1.clientID = CLIENT.a;
    v1.getMap('reads').set(`inbox/${A}`, 5);
    const update = Y.encodeStateAsUpdate(v1);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'v1_document');
    const verdict = send(world, A, update);
    assert.equal(verdict.kind === 'refuse' && verdict.code, CloseCode.replicaOutdated);
  });

  for (const root of ['heads', 'reads', 'mutes']) {
    test(`[RULE-18] v1's root ${root} named anywhere (even as an array, even deleted) is 4410`, () => {
      const world = makeWorld();
      for (const content of [{ any: [{ key: 'inbox', val: 1 }] }, { deleted: 1 }] as const) {
        assertRefused(world, A, insert(CLIENT.a, 1, { root }, content), 'v1_document');
      }
    });
  }

  test('[RULE-18] a map entry in a v2 root is 4410 (v1_document), also in an item the server has', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 1,
        structs: [{ kind: 'item', parent: ROOT_A, key: INBOX, content: { any: [{ key: INBOX, val: 5 }] } }],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'v1_document');
    const known = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [{ kind: 'item', parent: ROOT_A, key: 'x', content: { any: [{ key: INBOX, val: 4 }] } }],
      },
    ]);
    assertRefused(world, A, known, 'v1_document');
  });

  test('[RULE-18] a v1 map written by a Y.Map over the device root is 4410', () => {
    const world = makeWorld();
    const v1 = new Y.Doc();
    v1.getMap(ROOT_A).set(INBOX, 9);
    assertRefused(world, A, Y.encodeStateAsUpdate(v1), 'v1_document');
  });

  for (const root of ['evil', '', 'v2/device/', 'v2/device/a/b', 'v2/heads/x', 'V2/heads', '__proto__']) {
    test(`[RULE-18] an unknown root ${JSON.stringify(root)} is refused`, () => {
      const world = makeWorld();
      const update = insert(CLIENT.a, 1, { root }, { any: [{ key: INBOX, val: 5 }] });
      assertHarmful(world, A, update);
      assertRefused(world, A, update, 'unknown_root');
    });
  }

  test('[RULE-18] an unknown root hidden in an item the server already has, or in a deleted item, is refused', () => {
    const world = makeWorld();
    assertRefused(world, A, insert(CLIENT.a, 0, { root: 'evil' }, { any: [{ key: INBOX, val: 4 }] }), 'unknown_root');
    assertRefused(world, A, insert(CLIENT.a, 1, { root: 'evil' }, { deleted: 2 }), 'unknown_root');
  });

  test('[RULE-18] an unknown root hidden in a second block of a client (which Yjs drops) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: 'evil', content: { any: [1] } }] },
      {
        client: CLIENT.a,
        clock: 1,
        structs: [{ kind: 'item', origin: A_INBOX, content: { any: [{ key: INBOX, val: 5 }] } }],
      },
    ]);
    assertRefused(world, A, update, 'unknown_root');
  });

  for (const type of ['map', 'array', 'text', 'xml'] as const) {
    test(`[RULE-2] a nested type (${type}) as an element of one's own array is refused`, () => {
      const world = makeWorld();
      const update = insert(CLIENT.a, 1, { origin: A_INBOX }, { type });
      assertHarmful(world, A, update);
      assertRefused(world, A, update, 'nested_type');
    });
  }

  test('[RULE-2] an item inside a nested type, and a nested type the server has (re-sent), are refused', () => {
    const world = makeWorld();
    const child = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: A_INBOX, content: { any: [5] } }] },
    ]);
    assertRefused(world, A, child, 'nested_type');
    assertRefused(world, A, insert(CLIENT.a, 0, { root: ROOT_A }, { type: 'map' }), 'nested_type');
  });
});

describe('write rules v2: elements of one array', () => {
  test('[RULE-19] an origin and a right origin in different arrays are refused (not_array_entry)', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 1,
        structs: [{ kind: 'item', origin: A_INBOX, rightOrigin: B_CHAT, content: { any: [{ key: INBOX, val: 5 }] } }],
      },
    ]);
    assertRefused(world, A, update, 'not_array_entry');
    // Either way round: the right origin's array is not the origin's.
    const reverse = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 1,
        structs: [{ kind: 'item', origin: B_CHAT, rightOrigin: A_INBOX, content: { any: [{ key: INBOX, val: 5 }] } }],
      },
    ]);
    assertRefused(world, A, reverse, 'not_array_entry');
  });

  test('[RULE-19] an origin and a right origin in one own array (an insert between two entries) are accepted', () => {
    const world = makeWorld();
    const { a } = world;
    a.read(FEED, 2); // 1001:1 after 1001:0
    assertAccepted(world, A, a.take() as Uint8Array);
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 2,
        structs: [
          {
            kind: 'item',
            origin: A_INBOX,
            rightOrigin: { client: CLIENT.a, clock: 1 },
            content: { any: [{ key: CHAT, val: 1 }] },
          },
        ],
      },
    ]);
    assertAccepted(world, A, update);
  });

  test('[RULE-19] a right origin left of the origin (same array) is accepted: only the order differs, never a count', () => {
    const world = makeWorld();
    const { a, server } = world;
    a.read(FEED, 2); // 1001:1 after 1001:0
    assertAccepted(world, A, a.take() as Uint8Array);
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [
          {
            kind: 'item',
            origin: { client: CLIENT.a, clock: 1 },
            rightOrigin: A_INBOX,
            content: { any: [{ key: CHAT, val: 1 }] },
          },
        ],
      },
    ]);
    assertAccepted(world, A, update);
    const fresh = new DeviceReplica(B, 9009);
    fresh.pull(server);
    assert.deepEqual(fresh.tracker.counts(), server.tracker.counts());
    assert.deepEqual(liveOf(world, A, CHAT), [1]);
  });

  test('[RULE-19] an origin in a garbage-collected struct (of the update or of the server) is refused', () => {
    const world = makeWorld();
    const inUpdate = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 1,
        structs: [
          { kind: 'gc', len: 1 },
          { kind: 'item', origin: { client: CLIENT.a, clock: 1 }, content: { any: [{ key: INBOX, val: 5 }] } },
        ],
      },
    ]);
    assertRefused(world, A, inUpdate, 'not_array_entry');
    // A GC struct alone is accepted (it holds nothing); an item after it is then refused.
    assertAccepted(world, A, forgeUpdate([{ client: CLIENT.a, clock: 1, structs: [{ kind: 'gc', len: 1 }] }]));
    const onServer = insert(CLIENT.a, 2, { origin: { client: CLIENT.a, clock: 1 } }, { any: [{ key: INBOX, val: 5 }] });
    assertRefused(world, A, onServer, 'not_array_entry');
    const right = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 2,
        structs: [
          { kind: 'item', rightOrigin: { client: CLIENT.a, clock: 1 }, content: { any: [{ key: INBOX, val: 5 }] } },
        ],
      },
    ]);
    assertRefused(world, A, right, 'not_array_entry');
  });
});

describe('write rules v2: whose array', () => {
  test('[RULE-4] an insert into v2/heads by a device is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => new KeyValueArray(doc, HEADS_ROOT).set(INBOX, 99));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'heads_by_device');
  });

  test('[RULE-4] a device deleting a heads entry is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => array(doc, HEADS_ROOT).delete(0, 1));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'heads_by_device');
  });

  test("[RULE-20] an insert into another device's array is refused (foreign_marker)", () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => array(doc, deviceRoot(B)).push([{ key: INBOX, val: 10 }]));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
    // Also after an origin in the other array, with no parent named.
    assertRefused(
      world,
      A,
      insert(CLIENT.a, 1, { origin: B_CHAT }, { any: [{ key: INBOX, val: 10 }] }),
      'foreign_marker',
    );
  });

  test("[RULE-20] [ID-2] an insert into @server's array is refused", () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) =>
      array(doc, deviceRoot(SERVER_DEVICE)).push([{ key: INBOX, val: 10 }]),
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
  });

  test("[RULE-20] deleting another device's entry is refused (foreign_marker), also as a replacement", () => {
    const world = makeWorld();
    const copy = scratch(world.a);
    const update = updateOf(copy, (doc) => array(doc, deviceRoot(B)).delete(0, 1));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
    // Deleting b's marker while writing a's own.
    const both = updateOf(scratch(world.a), (doc) =>
      doc.transact(() => {
        array(doc, deviceRoot(B)).delete(0, 1);
        new KeyValueArray(doc, ROOT_A).set(CHAT, 5);
      }),
    );
    assertRefused(world, A, both, 'foreign_marker');
  });

  test("[RULE-20] deleting another device's mute vote is refused", () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => array(doc, deviceRoot(C)).delete(0, 1));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
  });

  test('[RULE-20] a delete range the server already deleted is skipped', () => {
    const world = makeWorld();
    const { a } = world;
    a.read(INBOX, 6); // deletes 1001:0
    assertAccepted(world, A, a.take() as Uint8Array);
    // Another device re-sends a's delete of 1001:0 (its step 2 holds the whole delete set).
    const resent = forgeUpdate([], [{ client: CLIENT.a, clock: 0, len: 1 }]);
    assert.equal(assertAccepted(world, B, resent).changes, false);
  });
});

describe('write rules v2: entries', () => {
  const values: Array<[string, unknown]> = [
    ['a float marker', { key: INBOX, val: 4.5 }],
    ['a string marker', { key: INBOX, val: '5' }],
    ['a negative marker', { key: INBOX, val: -1 }],
    ['a NaN marker', { key: INBOX, val: Number.NaN }],
    ['an unsafe marker', { key: INBOX, val: 2 ** 53 }],
    ['a marker past MAX_EPOCH', { key: INBOX, val: (MAX_EPOCH + 1) * 2 ** 32 }],
    ['a mute stamp below 2', { key: muteKey(INBOX), val: 1 }],
    ['a float mute stamp', { key: muteKey(INBOX), val: 3.5 }],
    ['a boolean mute', { key: muteKey(INBOX), val: true }],
    ['an entry with a third property', { key: INBOX, val: 5, x: 1 }],
    ['an entry without val', { key: INBOX }],
    ['a key that is a number', { key: 5, val: 5 }],
    ['a number', 5],
    ['null', null],
    ['an array', [INBOX, 5]],
    ['a string', 'inbox'],
  ];
  for (const [name, value] of values) {
    test(`[RULE-21] ${name} is refused (invalid_value)`, () => {
      const world = makeWorld();
      const update = updateOf(scratch(world.a), (doc) => array(doc, ROOT_A).push([value]));
      assertRefused(world, A, update, 'invalid_value');
    });
  }

  for (const key of ['a/b', '', 'm/', 'm/a/b', 'x'.repeat(129), 'bad thread', `${INBOX}/${A}`]) {
    test(`[RULE-21] the key ${JSON.stringify(key.slice(0, 20))} is refused (invalid_key)`, () => {
      const world = makeWorld();
      const update = updateOf(scratch(world.a), (doc) => array(doc, ROOT_A).push([{ key, val: 2 }]));
      assertRefused(world, A, update, 'invalid_key');
    });
  }

  test('[RULE-21] content that is not a list of entries (string, JSON, binary, embed, format, subdocument) is refused', () => {
    for (const content of [
      { string: 'ab' },
      { json: [{ key: INBOX, val: 5 }] },
      { binary: new Uint8Array([5]) },
      { embed: { key: INBOX, val: 5 } },
      { format: ['bold', true] as const },
      { doc: 'sub' },
    ] as const) {
      const world = makeWorld();
      assertRefused(world, A, insert(CLIENT.a, 1, { origin: A_INBOX }, content), 'invalid_value');
    }
  });

  test('[RULE-21] one bad entry among good ones refuses the whole item', () => {
    const world = makeWorld();
    const update = insert(
      CLIENT.a,
      1,
      { origin: A_INBOX },
      {
        any: [
          { key: CHAT, val: 1 },
          { key: FEED, val: -1 },
        ],
      },
    );
    assertRefused(world, A, update, 'invalid_value');
  });
});

describe('write rules v2: per key', () => {
  test('[RULE-22] deleting one’s own entry without a replacement is refused (deleted_marker)', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => array(doc, ROOT_A).delete(0, 1));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-22] deleting one’s own mute vote without a replacement is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.c), (doc) => array(doc, deviceRoot(C)).delete(0, 1));
    assertHarmful(world, C, update);
    assertRefused(world, C, update, 'deleted_marker');
  });

  test('[RULE-22] a replacement the same update deletes again is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) =>
      doc.transact(() => {
        new KeyValueArray(doc, ROOT_A).set(INBOX, 6);
        array(doc, ROOT_A).delete(0, 1);
      }),
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-22] a ContentDeleted element in place of a replacement is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate(
      [{ client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { deleted: 1 } }] }],
      [{ client: CLIENT.a, clock: 0, len: 1 }],
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-22] removing one of two duplicates is accepted', () => {
    const world = makeWorld();
    const update = deleteDuplicate(world, 3);
    assertAccepted(world, A, update);
    assert.deepEqual(liveOf(world, A, INBOX), [4]);
  });

  test('[RULE-23] a lower marker is refused (lower_marker)', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => new KeyValueArray(doc, ROOT_A).set(INBOX, 2));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'lower_marker');
  });

  test('[RULE-23] a marker lowered inside one update (a high value replaced by a low one) is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) =>
      doc.transact(() => {
        const kv = new KeyValueArray(doc, ROOT_A);
        kv.set(INBOX, 9);
        kv.set(INBOX, 1);
      }),
    );
    assertRefused(world, A, update, 'lower_marker');
  });

  test('[RULE-23] the larger of two duplicates deleted, the smaller kept, is refused', () => {
    const world = makeWorld();
    const update = deleteDuplicate(world, 4);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'lower_marker');
  });

  test('[RULE-23] a lower mute stamp is refused (lower_mute)', () => {
    const world = makeWorld();
    // c muted feed.x with stamp 3 (counter 1, muted); 2 is counter 1, unmuted: lower.
    const update = updateOf(scratch(world.c), (doc) =>
      new KeyValueArray(doc, deviceRoot(C)).set(muteKey(FEED), packMuteStamp(1, false)),
    );
    assertHarmful(world, C, update);
    assertRefused(world, C, update, 'lower_mute');
  });

  test('[RULE-7] a marker more than MAX_EPOCH_LEAD epochs above the thread is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) =>
      new KeyValueArray(doc, ROOT_A).set(INBOX, packMarker(MAX_EPOCH_LEAD + 1, 0)),
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'epoch_too_far');
  });

  test('[RULE-7] an extra entry (no delete) too far ahead is refused, even when the key keeps its max', () => {
    const world = makeWorld();
    const update = insert(
      CLIENT.a,
      1,
      { origin: A_INBOX },
      { any: [{ key: CHAT, val: packMarker(MAX_EPOCH_LEAD + 1, 0) }] },
    );
    assertRefused(world, A, update, 'epoch_too_far');
  });

  test('[RULE-8] a marker beyond the head is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => new KeyValueArray(doc, ROOT_A).set(INBOX, 11));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'seq_beyond_head');
  });

  test('[RULE-8] a marker of a thread without a head beyond 0 is refused', () => {
    const world = makeWorld();
    const update = updateOf(scratch(world.a), (doc) => new KeyValueArray(doc, ROOT_A).set('new' as ThreadId, 1));
    assertRefused(world, A, update, 'seq_beyond_head');
  });

  test('[RULE-24] a mute counter more than MAX_MUTE_LEAD above the thread’s is refused (mute_too_far)', () => {
    const world = makeWorld();
    // feed.x's counter is 1 on the server.
    const update = updateOf(scratch(world.a), (doc) =>
      new KeyValueArray(doc, ROOT_A).set(muteKey(FEED), packMuteStamp(1 + MAX_MUTE_LEAD + 1, true)),
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'mute_too_far');
    const fresh = updateOf(scratch(world.a), (doc) =>
      new KeyValueArray(doc, ROOT_A).set(muteKey(INBOX), packMuteStamp(MAX_MUTE_LEAD + 1, true)),
    );
    assertRefused(world, A, fresh, 'mute_too_far');
  });
});

describe('write rules v2: client IDs', () => {
  test("[RULE-13] writing under another device's client ID is refused", () => {
    const world = makeWorld();
    const honestOfB = updateOf(world.b, () => world.b.read(INBOX, 10));
    assertRefused(world, A, honestOfB, 'foreign_client_id');
    const update = insert(CLIENT.b, 1, { origin: A_INBOX }, { any: [{ key: INBOX, val: 6 }] });
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_client_id');
  });

  test("[RULE-13] writing under the server's client ID, current or from before a restart, is refused", () => {
    const world = makeWorld();
    const { server } = world;
    const write = (client: number) =>
      insert(client, Y.getState(server.doc.store, client), { root: ROOT_A }, { any: [{ key: CHAT, val: 1 }] });
    assertRefused(world, A, write(server.doc.clientID), 'foreign_client_id');
    const before = server.doc.clientID;
    server.restart();
    assert.notEqual(server.doc.clientID, before);
    assertRefused(world, A, write(before), 'foreign_client_id');
  });
});

describe('write rules v2: malformed updates (4400)', () => {
  test('[RULE-12] bytes that are not a Yjs update are refused with 4400', () => {
    for (const bytes of [[0xff], [0x01, 0x01], [0x05], [0x01, 0x01, 0x01, 0x00, 0x1f]]) {
      const world = makeWorld();
      assertRefused(world, A, new Uint8Array(bytes), 'malformed');
    }
  });

  test('[RULE-12] an origin or right origin at or after the item itself is refused with 4400', () => {
    for (const [origin, rightOrigin] of [
      [{ client: CLIENT.a, clock: 1 }, null],
      [{ client: CLIENT.a, clock: 2 }, null],
      [A_INBOX, { client: CLIENT.a, clock: 1 }],
      [A_INBOX, { client: CLIENT.a, clock: 2 }],
    ] as const) {
      const world = makeWorld();
      const update = forgeUpdate([
        {
          client: CLIENT.a,
          clock: 1,
          structs: [
            { kind: 'item', origin, rightOrigin, content: { any: [{ key: INBOX, val: 6 }] } },
            { kind: 'item', origin: A_INBOX, content: { deleted: 1 } },
          ],
        },
      ]);
      assertRefused(world, A, update, 'malformed');
    }
  });

  test('[RULE-12] cyclic origins, and structs that wait on each other across clients, are refused with 4400', () => {
    const world = makeWorld();
    const cycle = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 6006, clock: 0 }, content: { any: [{ key: INBOX, val: 6 }] } }],
      },
      {
        client: 6006,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 5005, clock: 0 }, content: { any: [{ key: INBOX, val: 7 }] } }],
      },
    ]);
    assertRefused(world, A, cycle, 'malformed');
    const rightCycle = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [
          {
            kind: 'item',
            origin: A_INBOX,
            rightOrigin: { client: 6006, clock: 0 },
            content: { any: [{ key: INBOX, val: 6 }] },
          },
        ],
      },
      {
        client: 6006,
        clock: 0,
        structs: [
          {
            kind: 'item',
            origin: A_INBOX,
            rightOrigin: { client: 5005, clock: 0 },
            content: { any: [{ key: INBOX, val: 7 }] },
          },
        ],
      },
    ]);
    assertRefused(world, A, rightCycle, 'malformed');
    const waits = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [
          { kind: 'item', origin: { client: 6006, clock: 0 }, content: { any: [{ key: INBOX, val: 9 }] } },
          { kind: 'item', origin: A_INBOX, content: { deleted: 1 } },
        ],
      },
      {
        client: 6006,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 5005, clock: 1 }, content: { deleted: 1 } }],
      },
    ]);
    assertRefused(world, A, waits, 'malformed');
  });

  test('[RULE-12] a second block of a client (Yjs applies only the last) is refused with 4400', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: A_INBOX, content: { any: [{ key: INBOX, val: 6 }] } }],
      },
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: A_INBOX, content: { any: [{ key: INBOX, val: 2 }] } }],
      },
    ]);
    assertRefused(world, A, update, 'malformed');
    const empty = forgeUpdate(
      [
        {
          client: CLIENT.a,
          clock: 1,
          structs: [{ kind: 'item', origin: A_INBOX, content: { any: [{ key: INBOX, val: 6 }] } }],
        },
        { client: CLIENT.a, clock: 0, structs: [] },
      ],
      [{ client: CLIENT.a, clock: 0, len: 1 }],
    );
    assertHarmful(world, A, empty);
    assertRefused(world, A, empty, 'malformed');
  });

  test('[RULE-12] an item whose first part the server has cannot name another array than the server’s copy', () => {
    const world = makeWorld();
    // 1001:0 is in a's array; the re-sent item claims b's array for its rest.
    const update = insert(
      CLIENT.a,
      0,
      { root: deviceRoot(B) },
      {
        any: [
          { key: INBOX, val: 4 },
          { key: CHAT, val: 5 },
        ],
      },
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed');
  });

  test('[RULE-12] a known item naming an origin the server lacks is refused with 4400', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [
          { kind: 'item', origin: { client: 1017, clock: 0 }, content: { any: [{ key: INBOX, val: 4 }] } },
          { kind: 'item', origin: A_INBOX, content: { any: [{ key: INBOX, val: 5 }] } },
        ],
      },
    ]);
    assertRefused(world, A, update, 'malformed');
  });

  test('[RULE-12] an empty struct or delete range is refused with 4400', () => {
    const world = makeWorld();
    for (const struct of [
      { kind: 'gc', len: 0 } as const,
      { kind: 'item', parent: ROOT_A, content: { any: [] } } as const,
    ]) {
      assertRefused(world, A, forgeUpdate([{ client: CLIENT.a, clock: 1, structs: [struct] }]), 'malformed');
    }
    assertRefused(world, A, new Uint8Array([0x00, 0x01, 0x17, 0x01, 0x00, 0x00]), 'malformed');
  });
});

describe('write rules v2: not yet (dropped without closing)', () => {
  test('[RULE-11] an update with a gap after what the server has is "not yet", and the later full sync is accepted', () => {
    const world = makeWorld();
    const { a, server } = world;
    a.read(INBOX, 5);
    a.take(); // lost in flight
    a.read(INBOX, 6);
    const later = a.take() as Uint8Array;
    assert.equal(send(world, A, later).kind, 'not-yet');
    assertAccepted(world, A, a.step2(server));
    assert.equal(server.tracker.markers(INBOX).get(A), 6);
  });

  test('[RULE-11] an origin or right origin the server does not have yet is "not yet"', () => {
    const world = makeWorld();
    const origin = insert(5005, 0, { origin: { client: 7007, clock: 3 } }, { any: [{ key: INBOX, val: 6 }] });
    assert.equal(send(world, A, origin).kind, 'not-yet');
    const right = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [
          { kind: 'item', rightOrigin: { client: 7007, clock: 0 }, content: { any: [{ key: INBOX, val: 6 }] } },
        ],
      },
    ]);
    assert.equal(send(world, A, right).kind, 'not-yet');
  });

  test('[RULE-11] a delete of ids the server does not have is "not yet", never stored', () => {
    const world = makeWorld();
    const update = forgeUpdate([], [{ client: CLIENT.a, clock: 5, len: 2 }]);
    assert.equal(send(world, A, update).kind, 'not-yet');
    assert.equal(world.server.doc.store.pendingDs, null);
  });
});

describe('write rules v2: damaged honest updates', () => {
  test('[RULE-14] every truncation and every single bit flip of an honest update is refused, "not yet", or harmless', () => {
    const world = makeWorld();
    const { a, server } = world;
    a.read(INBOX, 6);
    a.mute(CHAT, true);
    a.read(INBOX, 8);
    const honest = a.take() as Uint8Array;
    const damaged: Uint8Array[] = [];
    for (let end = 0; end < honest.length; end++) damaged.push(honest.slice(0, end));
    for (let i = 0; i < honest.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const copy = honest.slice();
        copy[i] = (copy[i] as number) ^ (1 << bit);
        damaged.push(copy);
      }
    }
    let accepted = 0;
    for (const update of damaged) {
      const verdict = checkUpdate(server.ctx, A, update);
      if (verdict.kind !== 'accept') continue;
      accepted++;
      const copy = server.clone();
      Y.applyUpdate(copy, update);
      assert.deepEqual(ruleViolations(server.doc, copy, A, server.bindings, server.doc.clientID), []);
    }
    assert.ok(accepted < damaged.length);
    assertAccepted(world, A, honest);
  });

  test('[RULE-12] an unforged honest update re-forges to the same structs and deletes (the forge helper is faithful)', () => {
    const world = makeWorld();
    const { a } = world;
    a.read(INBOX, 6);
    a.mute(CHAT, true);
    a.read(INBOX, 8);
    const honest = a.take() as Uint8Array;
    const { blocks, ds } = unforge(honest);
    assert.equal(summary(forgeUpdate(blocks, ds)), summary(honest));
    const full = Y.encodeStateAsUpdate(a.doc);
    const parts = unforge(full);
    assert.equal(summary(forgeUpdate(parts.blocks, parts.ds)), summary(full));
  });

  test('[RULE-14] checkUpdate never throws and never changes the server document', () => {
    const world = makeWorld();
    const { server } = world;
    const before = Y.encodeStateAsUpdate(server.doc);
    const roots = [...server.doc.share.keys()].sort();
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(1 + (n % 17));
      for (let i = 0; i < bytes.length; i++) bytes[i] = (n * 31 + i * 97) % 256;
      assert.doesNotThrow(() => checkUpdate(server.ctx, A, bytes));
    }
    assert.deepEqual(Y.encodeStateAsUpdate(server.doc), before);
    assert.deepEqual([...server.doc.share.keys()].sort(), roots);
  });

  test('[RULE-14] an accepted update relayed to another device applies there whole', () => {
    const world = makeWorld();
    const { a, b, server } = world;
    const relayed: Uint8Array[] = [];
    server.relays.add((update, from) => {
      if (from === A) relayed.push(update);
    });
    a.read(INBOX, 10);
    a.mute(CHAT, true);
    for (const verdict of a.push(server)) assert.equal(verdict.kind, 'accept');
    for (const update of relayed) Y.applyUpdate(b.doc, update, REMOTE);
    assert.equal(b.doc.store.pendingStructs, null);
    assert.equal(b.tracker.unread(INBOX), 0);
    assert.equal(b.tracker.isMuted(CHAT), true);
  });
});
