/**
 * The write rules, one forged kind per test. Every refusal must leave the server document
 * as it was (checkUpdate is pure and the server applies nothing it refused), carry the
 * right close code (4400 for what is not a valid update, 4403 for a valid update that
 * breaks a rule) and name its reason.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import {
  accountMaps,
  CloseCode,
  checkUpdate,
  type DeviceId,
  MAX_EPOCH,
  MAX_EPOCH_LEAD,
  packMarker,
  RefusalReason,
  readsKey,
  SERVER_DEVICE,
  type ThreadId,
  type Verdict,
} from '../src/index.js';
import { forgeUpdate, unforge } from './helpers/forge.js';
import { ruleViolations } from './helpers/oracle.js';
import { A, B, C, CLIENT, DeviceReplica, makeWorld, REMOTE, type World } from './helpers/world.js';

const INBOX = 'inbox' as ThreadId;
const CHAT = 'chat:1' as ThreadId;
const FEED = 'feed.x' as ThreadId;

/** Where the world put things: a's inbox marker 4 at 1001:0, b's chat:1 marker 5 at 2002:0, c's mute at 3003:0. */
const A_INBOX = { client: CLIENT.a, clock: 0 };
const B_CHAT = { client: CLIENT.b, clock: 0 };

/** Runs `write` on a replica and returns the update it made. */
function updateOf(replica: DeviceReplica, write: (maps: ReturnType<typeof accountMaps>) => void): Uint8Array {
  write(accountMaps(replica.doc));
  const update = replica.take();
  assert.ok(update !== null, 'the write changed nothing');
  return update;
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

function assertRefused(
  world: World,
  device: DeviceId,
  update: Uint8Array,
  reason: RefusalReason,
  code: number = CloseCode.forbiddenWrite,
): void {
  const verdict = send(world, device, update);
  assert.equal(verdict.kind, 'refuse', `expected a refusal (${reason}), got ${JSON.stringify(verdict)}`);
  if (verdict.kind !== 'refuse') return;
  assert.equal(verdict.reason, reason, verdict.detail);
  assert.equal(verdict.code, code);
  assert.ok(verdict.reason in RefusalReason);
  assert.ok(verdict.detail.length > 0 && verdict.detail.length < 400);
}

function assertAccepted(world: World, device: DeviceId, update: Uint8Array): Extract<Verdict, { kind: 'accept' }> {
  const { server } = world;
  const before = new Y.Doc();
  Y.applyUpdate(before, Y.encodeStateAsUpdate(server.doc));
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

describe('write rules: honest updates', () => {
  test('[RULE-10] a first marker, then an overwrite, are accepted; the first use of a client ID binds it', () => {
    const world = makeWorld();
    const fresh = new DeviceReplica('tv-d' as DeviceId, 4004);
    fresh.pull(world.server);
    const first = assertAccepted(
      world,
      fresh.id,
      updateOf(fresh, (m) => m.reads.set(readsKey(INBOX, fresh.id), 3)),
    );
    assert.deepEqual(first.newClients, [4004]);
    assert.equal(world.server.bindings.get(4004), fresh.id);
    const second = assertAccepted(
      world,
      fresh.id,
      updateOf(fresh, (m) => m.reads.set(readsKey(INBOX, fresh.id), 9)),
    );
    assert.deepEqual(second.newClients, []);
    assert.equal(world.server.tracker.unread(INBOX), 1);
  });

  test('[RULE-10] several overwrites of one marker in one update (offline) are accepted', () => {
    const world = makeWorld();
    const { a } = world;
    a.read(INBOX, 5);
    a.read(CHAT, 2);
    a.read(INBOX, 7);
    a.unread(INBOX, 3);
    a.read(INBOX, 9);
    assertAccepted(world, A, a.take() as Uint8Array);
    assert.equal(world.server.tracker.maxMarker(INBOX), packMarker(1, 9));
  });

  test('[RULE-10] a sync step 2 against an older state vector (re-sending part of an item the server has) is accepted', () => {
    const world = makeWorld();
    const { a, server } = world;
    const staleVector = Y.encodeStateVector(server.doc);
    a.read(INBOX, 5);
    assertAccepted(world, A, a.take() as Uint8Array); // 1001:1
    a.read(INBOX, 6);
    a.read(INBOX, 7); // 1001:1 and 1001:2 are now one deleted item on a
    const step2 = Y.encodeStateAsUpdate(a.doc, staleVector);
    const first = Y.decodeUpdate(step2).structs.find((s) => s.id.client === CLIENT.a);
    assert.ok(first && first.id.clock === 1 && first.length === 2, 'no item straddles the server’s state');
    assertAccepted(world, A, step2);
    assert.equal(server.tracker.markers(INBOX).get(A), 7);
  });

  test('[RULE-11] a re-sent sync step 2 is accepted with changes = false', () => {
    const world = makeWorld();
    const verdict = assertAccepted(world, A, Y.encodeStateAsUpdate(world.a.doc));
    assert.equal(verdict.changes, false);
  });

  test('[RULE-5] any device may set, overwrite and delete a mute', () => {
    const world = makeWorld();
    assertAccepted(
      world,
      A,
      updateOf(world.a, (m) => m.mutes.set(FEED, false)),
    );
    world.b.pull(world.server);
    assertAccepted(
      world,
      B,
      updateOf(world.b, (m) => m.mutes.delete(FEED)),
    );
    assertAccepted(
      world,
      C,
      updateOf(world.c, (m) => m.mutes.set(INBOX, true)),
    );
  });

  test('[MARK-5] a reinstall that synced first continues its old marker under a new client ID', () => {
    const world = makeWorld();
    const reinstall = new DeviceReplica(A, 1111);
    reinstall.pull(world.server);
    reinstall.read(INBOX, 8);
    const verdict = assertAccepted(world, A, reinstall.take() as Uint8Array);
    assert.deepEqual(verdict.newClients, [1111]);
  });

  test('[RULE-8] a marker may read up to the head, and [RULE-7] mark unread up to MAX_EPOCH_LEAD epochs ahead', () => {
    const world = makeWorld();
    assertAccepted(
      world,
      A,
      updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, A), packMarker(MAX_EPOCH_LEAD, 10))),
    );
  });
});

describe('write rules: forged updates (4403)', () => {
  test('[RULE-4] heads written by a device is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => m.heads.set(INBOX, 0));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'heads_by_device');
  });

  test('[RULE-4] a new heads entry written by a device is refused', () => {
    const world = makeWorld();
    assertRefused(
      world,
      A,
      updateOf(world.a, (m) => m.heads.set('new' as ThreadId, 1)),
      'heads_by_device',
    );
  });

  test('[RULE-4] heads deleted by a device is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => m.heads.delete(INBOX));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'heads_by_device');
  });

  test("[RULE-5] another device's marker is refused (new key)", () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, B), 10));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
  });

  test("[RULE-5] an overwrite of another device's marker is refused", () => {
    const world = makeWorld();
    assertRefused(
      world,
      A,
      updateOf(world.a, (m) => m.reads.set(readsKey(CHAT, B), 5 + 2 ** 32)),
      'foreign_marker',
    );
  });

  test('[ID-2] a device writing the @server marker is refused', () => {
    const world = makeWorld();
    assertRefused(
      world,
      A,
      updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, SERVER_DEVICE), 10)),
      'foreign_marker',
    );
  });

  test('[RULE-5] a reads key that is not thread/device, or a mutes key that is not a thread ID, is refused', () => {
    for (const [root, key] of [
      ['reads', 'inbox'],
      ['reads', `inbox/${A}/x`],
      ['reads', `bad thread/${A}`],
      ['mutes', 'a/b'],
      ['mutes', ''],
    ] as const) {
      const world = makeWorld();
      const update = updateOf(world.a, () => world.a.doc.getMap(root).set(key, root === 'reads' ? 1 : true));
      assertRefused(world, A, update, 'invalid_key');
    }
  });

  test('[RULE-6] a lower marker is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, A), 2));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'lower_marker');
  });

  test('[RULE-6] a marker lowered inside one update (a high value overwritten by a low one) is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => {
      m.reads.set(readsKey(INBOX, A), 9);
      m.reads.set(readsKey(INBOX, A), 1);
    });
    assertRefused(world, A, update, 'lower_marker');
  });

  test('[DOC-4] a float, string, negative, unsafe, boolean, null or too-large-epoch marker is refused', () => {
    for (const value of [4.5, '5', -1, Number.NaN, 2 ** 53, true, null, (MAX_EPOCH + 1) * 2 ** 32, [5], { v: 5 }]) {
      const world = makeWorld();
      const update = updateOf(world.a, (m) => (m.reads as Y.Map<unknown>).set(readsKey(INBOX, A), value));
      assertRefused(world, A, update, 'invalid_value');
    }
  });

  test('[DOC-6] a mute that is not a boolean is refused', () => {
    for (const value of [1, 'true', null, 0]) {
      const world = makeWorld();
      const update = updateOf(world.a, (m) => (m.mutes as Y.Map<unknown>).set(FEED, value));
      assertRefused(world, A, update, 'invalid_value');
    }
  });

  test('[RULE-3] a value that is not one plain value (a string or binary content) is refused', () => {
    for (const content of [{ string: 'ab' }, { binary: new Uint8Array([5]) }, { json: [5] }, { any: [5, 6] }]) {
      const world = makeWorld();
      const update = forgeUpdate([
        { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content }] },
      ]);
      assertRefused(world, A, update, 'invalid_value');
    }
  });

  test('[RULE-8] a marker beyond the head is refused', () => {
    const world = makeWorld();
    assertRefused(
      world,
      A,
      updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, A), 11)),
      'seq_beyond_head',
    );
  });

  test('[RULE-7] a marker more than MAX_EPOCH_LEAD epochs above the thread is refused', () => {
    const world = makeWorld();
    assertRefused(
      world,
      A,
      updateOf(world.a, (m) => m.reads.set(readsKey(INBOX, A), packMarker(MAX_EPOCH_LEAD + 1, 0))),
      'epoch_too_far',
    );
  });

  test("[RULE-9] deleting another device's marker is refused", () => {
    const world = makeWorld();
    world.a.pull(world.server);
    const update = updateOf(world.a, (m) => m.reads.delete(readsKey(CHAT, B)));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_marker');
  });

  test('[RULE-9] deleting one’s own marker (map.delete) is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => m.reads.delete(readsKey(INBOX, A)));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-9] a ContentDeleted item appended to one’s own key (a delete without a delete set) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { deleted: 1 } }] },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-9] a new marker that the same update deletes is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate(
      [{ client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [6] } }] }],
      [{ client: CLIENT.a, clock: 1, len: 1 }],
    );
    assertRefused(world, A, update, 'deleted_marker');
  });

  test('[RULE-10] a write of one’s own marker that does not follow the current one (a reinstall before sync) is refused', () => {
    const world = makeWorld();
    const unsynced = new DeviceReplica(A, 1111);
    const update = updateOf(unsynced, (m) => m.reads.set(readsKey(INBOX, A), 3));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'concurrent_marker');
  });

  test('[RULE-10] two writes that follow the same marker are refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: 5005, clock: 0, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [6] } }] },
      { client: 6006, clock: 0, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [7] } }] },
    ]);
    assertRefused(world, A, update, 'concurrent_marker');
  });

  test("[RULE-13] writing under another device's client ID is refused", () => {
    const world = makeWorld();
    // b's client writing b's own key, sent by a: the key is fine, the client is not a's.
    const honestOfB = updateOf(world.b, (m) => m.reads.set(readsKey(INBOX, B), 10));
    assertRefused(world, A, honestOfB, 'foreign_client_id');
    // a's key, written under b's client ID.
    const update = forgeUpdate([
      { client: CLIENT.b, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [6] } }] },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'foreign_client_id');
  });

  test("[RULE-13] writing under the server's client ID, current or from before a restart, is refused", () => {
    const world = makeWorld();
    const { server } = world;
    const mute = (client: number) =>
      forgeUpdate([
        {
          client,
          clock: Y.getState(server.doc.store, client),
          structs: [{ kind: 'item', parent: 'mutes', key: 'inbox', content: { any: [true] } }],
        },
      ]);
    assertRefused(world, A, mute(server.doc.clientID), 'foreign_client_id');
    const before = server.doc.clientID;
    server.restart();
    assert.notEqual(server.doc.clientID, before);
    // The server binds its own client IDs to @server (ServerPeer does); without that binding
    // nothing would stop a device from writing under the old one.
    assertRefused(world, A, mute(before), 'foreign_client_id');
  });

  test('[RULE-3] an item with a right origin (a list insert) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 1,
        structs: [{ kind: 'item', origin: A_INBOX, rightOrigin: B_CHAT, content: { any: [6] } }],
      },
    ]);
    assertRefused(world, A, update, 'not_map_entry');
  });

  test('[RULE-3] an item without a key in a root (a list item of the root) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: 'mutes', key: null, content: { any: [true] } }] },
    ]);
    assertRefused(world, A, update, 'not_map_entry');
  });
});

describe('write rules: unknown roots and nested types', () => {
  test('[RULE-1] an unknown root type is refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, () => world.a.doc.getMap('evil').set('x', 1));
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'unknown_root');
  });

  test('[RULE-1] an unknown root hidden in an item the server already has is refused', () => {
    const world = makeWorld();
    // a's first marker, which the server has, re-sent with another parent.
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [{ kind: 'item', parent: 'evil', key: `inbox/${A}`, content: { any: [4] } }],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'unknown_root');
  });

  test('[RULE-1] an unknown root hidden in a deleted item is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: 'evil', key: 'x', content: { deleted: 2 } }] },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'unknown_root');
  });

  test('[RULE-1] an unknown root hidden in a second block of a client (which Yjs drops) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: 'evil', key: 'x', content: { any: [1] } }] },
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [5] } }] },
    ]);
    assertRefused(world, A, update, 'unknown_root');
  });

  for (const [name, make] of [
    ['Y.Map', () => new Y.Map()],
    ['Y.Array', () => new Y.Array()],
    ['Y.Text', () => new Y.Text('x')],
  ] as const) {
    test(`[RULE-2] a nested type (${name} as a value) is refused`, () => {
      const world = makeWorld();
      const update = updateOf(world.a, (m) => (m.mutes as Y.Map<unknown>).set(FEED, make()));
      assertHarmful(world, A, update);
      assertRefused(world, A, update, 'nested_type');
    });
  }

  test('[RULE-2] a nested type as a marker, and an item inside a nested type, are refused', () => {
    const world = makeWorld();
    const update = updateOf(world.a, (m) => {
      const inner = new Y.Map<number>();
      (m.reads as Y.Map<unknown>).set(readsKey(INBOX, A), inner);
      inner.set('x', 5);
    });
    assertRefused(world, A, update, 'nested_type');
    const child = forgeUpdate([
      { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', parent: A_INBOX, key: 'x', content: { any: [5] } }] },
    ]);
    assertRefused(world, A, child, 'nested_type');
  });

  test('[RULE-2] a nested type the server already has (re-sent as known) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [{ kind: 'item', parent: 'reads', key: `inbox/${A}`, content: { type: 'map' } }],
      },
    ]);
    assertRefused(world, A, update, 'nested_type');
  });
});

describe('write rules: malformed updates (4400)', () => {
  test('[RULE-12] bytes that are not a Yjs update are refused with 4400', () => {
    for (const bytes of [[0xff], [0x01, 0x01], [0x05], [0x01, 0x01, 0x01, 0x00, 0x1f]]) {
      const world = makeWorld();
      assertRefused(world, A, new Uint8Array(bytes), 'malformed', CloseCode.invalidMessage);
    }
  });

  test('[RULE-12] a crafted origin pointing at the item itself, or after it, is refused with 4400', () => {
    for (const origin of [
      { client: CLIENT.a, clock: 1 },
      { client: CLIENT.a, clock: 2 },
    ]) {
      const world = makeWorld();
      const update = forgeUpdate([
        {
          client: CLIENT.a,
          clock: 1,
          structs: [
            { kind: 'item', origin, content: { any: [6] } },
            { kind: 'item', origin: A_INBOX, content: { deleted: 1 } },
          ],
        },
      ]);
      assertHarmful(world, A, update);
      assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
    }
  });

  test('[RULE-12] cyclic origins are refused with 4400', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 6006, clock: 0 }, content: { any: [6] } }],
      },
      {
        client: 6006,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 5005, clock: 0 }, content: { any: [7] } }],
      },
    ]);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] structs that wait on each other across clients (no origin cycle) are refused with 4400', () => {
    const world = makeWorld();
    // 5005:0 waits on 6006:0, which waits on 5005:1, which comes after 5005:0.
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [
          { kind: 'item', origin: { client: 6006, clock: 0 }, content: { any: [9] } },
          { kind: 'item', origin: A_INBOX, content: { deleted: 1 } },
        ],
      },
      {
        client: 6006,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 5005, clock: 1 }, content: { deleted: 1 } }],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] an origin cycle through the server (origin → origin → item) is refused', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 5005, clock: 0 }, content: { any: [6] } }],
      },
    ]);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });
});

describe('write rules: not yet (dropped without closing)', () => {
  test('[RULE-11] an update with a gap after what the server has is "not yet", and the later full sync is accepted', () => {
    const world = makeWorld();
    const { a, server } = world;
    a.read(INBOX, 5);
    a.take(); // lost in flight
    a.read(INBOX, 6);
    const later = a.take() as Uint8Array;
    const verdict = send(world, A, later);
    assert.equal(verdict.kind, 'not-yet');
    assertAccepted(world, A, a.step2(server));
    assert.equal(server.tracker.markers(INBOX).get(A), 6);
  });

  test('[RULE-11] an origin in another client the server does not have yet is "not yet"', () => {
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: 5005,
        clock: 0,
        structs: [{ kind: 'item', origin: { client: 7007, clock: 3 }, content: { any: [6] } }],
      },
    ]);
    assert.equal(send(world, A, update).kind, 'not-yet');
  });

  test('[RULE-11] a delete of ids the server does not have is "not yet", never stored', () => {
    const world = makeWorld();
    const update = forgeUpdate([], [{ client: CLIENT.a, clock: 5, len: 2 }]);
    assert.equal(send(world, A, update).kind, 'not-yet');
    assert.equal(world.server.doc.store.pendingDs, null);
  });
});

describe('write rules: pinned regressions (found by the differential fuzz)', () => {
  test('[RULE-12] a second block of a client (Yjs applies only the last) cannot lower a marker', () => {
    // By review, then found again by the fuzz (seed 1626633568 and others). Yjs applies only
    // the second block; through the first, the check saw the second block's last write
    // (feed.x/phone-a = 5, lower than 20) as a write of a's inbox marker (4 → 6 → 5).
    const world = makeWorld();
    const { a, server } = world;
    server.ingest(FEED, 20);
    a.pull(server);
    a.read(FEED, 20);
    assertAccepted(world, A, a.take() as Uint8Array); // feed.x/phone-a = 20 at 1001:1
    const update = forgeUpdate([
      { client: 5005, clock: 0, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [6] } }] },
      {
        client: 5005,
        clock: 0,
        structs: [
          { kind: 'item', origin: { client: CLIENT.a, clock: 1 }, content: { any: [20] } },
          { kind: 'item', origin: { client: 5005, clock: 0 }, content: { any: [5] } },
        ],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
    assert.equal(server.tracker.markers(FEED).get(A), 20);
  });

  test('[RULE-12] an empty second block (which drops the first) cannot delete a marker through the delete set', () => {
    // Found by seed 1626633568 (shrunk): 2 blocks, the second empty, and a delete of 1001:0.
    const world = makeWorld();
    const update = forgeUpdate(
      [
        { client: CLIENT.a, clock: 1, structs: [{ kind: 'item', origin: A_INBOX, content: { any: [10] } }] },
        { client: CLIENT.a, clock: 0, structs: [] },
      ],
      [{ client: CLIENT.a, clock: 0, len: 1 }],
    );
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] an item whose first part the server has cannot name another key than the server’s copy', () => {
    // By review: Yjs places the rest after the server's 1001:0 (a's inbox marker) but keeps
    // the key of the item's own parent, and deletes the inbox marker on the way.
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [{ kind: 'item', parent: 'mutes', key: 'inbox', content: { deleted: 2 } }],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] a known item naming an origin the server lacks cannot leave structs pending', () => {
    // Found by seed 831954450: a byte flip turned the origin of a re-sent item into 1017:0.
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.a,
        clock: 0,
        structs: [
          { kind: 'item', origin: { client: 1017, clock: 0 }, content: { any: [4] } },
          { kind: 'item', origin: A_INBOX, content: { any: [5] } },
        ],
      },
    ]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] an empty struct at the server’s clock is refused (it would break every later sync)', () => {
    // Found by seed 1824651647: a byte flip made a GC of length 0 at b's next clock.
    const world = makeWorld();
    for (const struct of [
      { kind: 'gc', len: 0 } as const,
      { kind: 'item', parent: 'mutes', key: 'inbox', content: { any: [] } } as const,
    ]) {
      const update = forgeUpdate([{ client: CLIENT.a, clock: 1, structs: [struct] }]);
      assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
    }
  });

  test('[RULE-12] an empty delete range is refused (Y.applyUpdate throws on one it cannot apply)', () => {
    // Found by seed 1515949203: `00 01 17 01 00 00` — no structs, delete 23:0 length 0.
    const world = makeWorld();
    const update = new Uint8Array([0x00, 0x01, 0x17, 0x01, 0x00, 0x00]);
    assertHarmful(world, A, update);
    assertRefused(world, A, update, 'malformed', CloseCode.invalidMessage);
  });

  test('[RULE-12] a gap in a first block of a client is not "not yet" when a second block replaces it', () => {
    // Found by seed 1075923699: the check waited for 2002:1 that Yjs never needs.
    const world = makeWorld();
    const update = forgeUpdate([
      {
        client: CLIENT.b,
        clock: 2,
        structs: [{ kind: 'item', parent: 'mutes', key: 'inbox', content: { any: [true] } }],
      },
      { client: CLIENT.b, clock: 1, structs: [{ kind: 'item', origin: B_CHAT, content: { any: [5 + 2 ** 32] } }] },
    ]);
    assertRefused(world, B, update, 'malformed', CloseCode.invalidMessage);
  });
});

describe('write rules: damaged honest updates', () => {
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
    // Byte for byte, but for the "has a key" bit Yjs also sets on items with an origin,
    // where readers ignore it.
    assert.deepEqual(forgeUpdate(blocks, ds), honest);
    const full = Y.encodeStateAsUpdate(a.doc);
    const parts = unforge(full);
    assert.equal(summary(forgeUpdate(parts.blocks, parts.ds)), summary(full));
  });

  test('[RULE-14] checkUpdate never throws and never changes the server document', () => {
    const world = makeWorld();
    const { server } = world;
    const before = Y.encodeStateAsUpdate(server.doc);
    for (let n = 0; n < 300; n++) {
      const bytes = new Uint8Array(1 + (n % 17));
      for (let i = 0; i < bytes.length; i++) bytes[i] = (n * 31 + i * 97) % 256;
      assert.doesNotThrow(() => checkUpdate(server.ctx, A, bytes));
    }
    assert.deepEqual(Y.encodeStateAsUpdate(server.doc), before);
    assert.deepEqual([...server.doc.share.keys()].sort(), ['heads', 'mutes', 'reads']);
  });
});

describe('write rules: a device replica receives what it sent back', () => {
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
