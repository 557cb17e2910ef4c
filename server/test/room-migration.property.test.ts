/**
 * Random account histories across the v1 → v2 migration (SPEC STORE-16, DOC-15), through the
 * real AccountRoom on a MemoryStore. Phase 1 plays a v1 history: a v1 server replica and
 * several v1 device replicas writing the v1 maps (heads raised by the server, `thread/device`
 * reads planned as v1 did, mark-as-unread epochs, `@server` API reads, boolean mutes, offline
 * periods, server restarts under a new client ID), every update the v1 server applied stored
 * in the log as the v1 server persisted it. Phase 2 loads the room (the migration runs), then
 * fresh v2 replicas of the same devices (as the SDK does after dropping a v1 replica, SDK-11)
 * go on through the room: offline periods, reads, mark-as-unread, mutes, server items and
 * reads, compactions and restarts (a new room from the store).
 *
 * After every step, on the server and on every replica: a thread's marker m(t) never
 * decreases, its head never decreases, and a count (unread, or the badge share of an unmuted
 * thread) rises only with a new item, a newer epoch that an explicit mark-as-unread created,
 * or an explicit unmute. The migration keeps every count and every (thread, device) marker
 * exactly. At the end every replica, the room, the stored counts and a reload agree, and m(t)
 * is the largest marker ever written that reached the server.
 *
 * Not modelled: a v1 device's writes the v1 server never received before the migration. The
 * SDK keeps them as intents (SDK-11, tested in the client); here they go with the replica.
 */
import assert from 'node:assert/strict';
import {
  type AccountCounts,
  type AccountId,
  accountMaps,
  CountsTracker,
  type DeviceId,
  deriveCounts,
  deriveV1Counts,
  deviceRoot,
  hasV1Content,
  isMarkerValue,
  KeyValueArray,
  type MarkerView,
  muteKey,
  packMarker,
  parseReadsKey,
  planAllRead,
  planMute,
  planRead,
  planUnread,
  readsKey,
  SERVER_DEVICE,
  type ThreadId,
  unpackMarker,
} from '@badgesync/shared';
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, test } from 'vitest';
import * as Y from 'yjs';
import { Rng } from '../../shared/test/helpers/rng.js';
import { propertyParams } from '../../shared/test/helpers/seed.js';
import { Metrics } from '../src/metrics.js';
import { AccountRoom } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore, type Store } from '../src/store/index.js';
import { RecordingMember, valueIn } from './room-rig.js';

const ACCOUNT = 'alice' as AccountId;
const THREADS = ['inbox', 'chat:1', 'feed.x'] as ThreadId[];
const DEVICES = ['phone', 'mac', 'ipad'] as DeviceId[];
const REMOTE = Symbol('remote');
const MIGRATED = 'account document migrated to contract v2';
/** pino's level number for `warn`: anything at or above it is a problem in an honest history. */
const WARN_LEVEL = 40;

type Op =
  | { readonly k: 'ingest'; readonly thread: number; readonly n: number }
  | { readonly k: 'apiRead'; readonly thread: number; readonly seq: number }
  | { readonly k: 'read'; readonly dev: number; readonly thread: number; readonly seq: number }
  | { readonly k: 'unread'; readonly dev: number; readonly thread: number; readonly from: number }
  | { readonly k: 'allRead'; readonly dev: number }
  | { readonly k: 'mute'; readonly dev: number; readonly thread: number; readonly on: boolean }
  | { readonly k: 'connect' | 'disconnect' | 'sync'; readonly dev: number }
  | { readonly k: 'restart' | 'compact' };

const dev = fc.nat({ max: DEVICES.length - 1 });
const thread = fc.nat({ max: THREADS.length - 1 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('ingest' as const), thread, n: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('apiRead' as const), thread, seq: fc.nat({ max: 16 }) }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('read' as const), dev, thread, seq: fc.nat({ max: 16 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('unread' as const), dev, thread, from: fc.integer({ min: 1, max: 12 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('allRead' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('mute' as const), dev, thread, on: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('connect' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('disconnect' as const), dev }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('sync' as const), dev }) },
  { weight: 1, arbitrary: fc.constant({ k: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'compact' as const }) },
);

const history = fc.record({
  seed: fc.integer(),
  v1: fc.array(op, { minLength: 5, maxLength: 80, size: 'max' }),
  v2: fc.array(op, { minLength: 5, maxLength: 120, size: 'max' }),
});

/** What the invariants look at, per thread: m(t), head(t), muted. */
interface ThreadState {
  readonly m: number;
  readonly head: number;
  readonly muted: boolean;
}
type Snapshot = ReadonlyMap<ThreadId, ThreadState>;

function v2Snapshot(view: MarkerView): Snapshot {
  return new Map(
    THREADS.map((t) => [t, { m: view.maxMarker(t), head: view.head(t), muted: view.isMuted(t) }] as const),
  );
}

/** The v1 reading of a replica (retired COUNT-1, DOC-2, DOC-6): what deriveV1Counts derives from. */
function v1Snapshot(doc: Y.Doc): Snapshot {
  const { heads, mutes } = accountMaps(doc);
  const out = new Map<ThreadId, ThreadState>();
  for (const t of THREADS) out.set(t, { m: v1Marker(doc, t), head: heads.get(t) ?? 0, muted: mutes.get(t) === true });
  return out;
}

function v1Marker(doc: Y.Doc, t: ThreadId): number {
  let m = 0;
  for (const [key, value] of accountMaps(doc).reads) {
    if (parseReadsKey(key)?.thread === t && isMarkerValue(value) && value > m) m = value;
  }
  return m;
}

const unreadOf = (s: ThreadState): number => Math.max(0, s.head - unpackMarker(s.m).seq);

/** The explicit acts a count may rise by, and every marker written, per thread. */
class Model {
  /** Epochs that a mark-as-unread created (v1 or v2, reaching the server or not). */
  readonly unreadEpochs = new Map<ThreadId, Set<number>>();
  readonly unmuted = new Set<ThreadId>();
  /** The largest marker written in v2 (devices and @server) per thread. */
  readonly v2Max = new Map<ThreadId, number>();
  /** What the histories reached, summed over the runs (the generator must reach what the property is about). */
  readonly stats = { checks: 0, v1Unreads: 0, v2Unreads: 0, unmutes: 0, restarts: 0, offlineWrites: 0 };

  unread(t: ThreadId, marker: number): void {
    const set = this.unreadEpochs.get(t) ?? new Set<number>();
    set.add(unpackMarker(marker).epoch);
    this.unreadEpochs.set(t, set);
  }

  wroteV2(t: ThreadId, marker: number): void {
    this.v2Max.set(t, Math.max(this.v2Max.get(t) ?? 0, marker));
  }

  /** [COUNT-9] From `prev` to `next` of one replica: no lost read, no unexplained rise of a count. */
  check(prev: Snapshot, next: Snapshot, where: string): void {
    this.stats.checks++;
    for (const t of THREADS) {
      const a = prev.get(t) as ThreadState;
      const b = next.get(t) as ThreadState;
      const at = `${where}, ${t}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`;
      assert.ok(b.m >= a.m, `a read was lost (m(t) decreased) ${at}`);
      assert.ok(b.head >= a.head, `head decreased ${at}`);
      const newEpoch = unpackMarker(b.m).epoch > unpackMarker(a.m).epoch;
      if (newEpoch) {
        assert.ok(this.unreadEpochs.get(t)?.has(unpackMarker(b.m).epoch), `an epoch no mark-as-unread created ${at}`);
      }
      const raise = b.head > a.head || newEpoch;
      if (unreadOf(b) > unreadOf(a)) assert.ok(raise, `unread rose without an item or a mark-as-unread ${at}`);
      if (a.muted && !b.muted) assert.ok(this.unmuted.has(t), `unmuted without an unmute ${at}`);
      const share = (s: ThreadState) => (s.muted ? 0 : unreadOf(s));
      if (share(b) > share(a)) assert.ok(raise || (a.muted && !b.muted), `the badge rose unexplained ${at}`);
    }
  }
}

/** A replica of the v1 maps, with its own Yjs client ID (the v1 SDK's). */
class V1Replica {
  readonly doc = new Y.Doc();
  online = false;
  snapshot: Snapshot;

  constructor(
    readonly id: DeviceId,
    clientId: number,
  ) {
    this.doc.clientID = clientId;
    this.snapshot = v1Snapshot(this.doc);
  }
}

/** Phase 1: a v1 history; answers the v1 server's replica (the stored log is in `store`). */
function playV1(ops: readonly Op[], rng: Rng, store: MemoryStore, model: Model): Y.Doc {
  const log: Uint8Array[] = [];
  const bindings = new Map<number, DeviceId>();
  const clientId = () => {
    let id = rng.range(1, 2 ** 31 - 1);
    while (bindings.has(id)) id = rng.range(1, 2 ** 31 - 1);
    return id;
  };
  let server = new Y.Doc();
  const startServer = (): void => {
    const doc = new Y.Doc();
    for (const update of log) Y.applyUpdate(doc, update, REMOTE);
    // The v1 server took a new client ID each time it loaded an account (BUDGET-1's story).
    doc.clientID = clientId();
    bindings.set(doc.clientID, SERVER_DEVICE);
    doc.on('update', (update: Uint8Array) => log.push(update));
    server = doc;
  };
  startServer();
  let serverSnap = v1Snapshot(server);
  const devices = DEVICES.map((id) => {
    const replica = new V1Replica(id, clientId());
    bindings.set(replica.doc.clientID, id);
    replica.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && replica.online) Y.applyUpdate(server, update, replica);
    });
    return replica;
  });
  const sync = (replica: V1Replica): void => {
    Y.applyUpdate(replica.doc, Y.encodeStateAsUpdate(server, Y.encodeStateVector(replica.doc)), REMOTE);
    const mine = Y.encodeStateAsUpdate(replica.doc, Y.encodeStateVector(server));
    Y.applyUpdate(server, mine, replica);
  };
  // v1's planners (retired MARK rules, same meaning): read in the current epoch up to the
  // head; mark-as-unread as epoch + 1 when something becomes unread.
  const read = (doc: Y.Doc, t: ThreadId, device: DeviceId, seq: number): void => {
    const m = v1Marker(doc, t);
    const value = packMarker(unpackMarker(m).epoch, Math.min(seq, accountMaps(doc).heads.get(t) ?? 0));
    if (value > m) accountMaps(doc).reads.set(readsKey(t, device), value);
  };

  for (const o of ops) {
    const t = THREADS[('thread' in o ? o.thread : 0) % THREADS.length] as ThreadId;
    const replica = devices['dev' in o ? o.dev : 0] as V1Replica;
    switch (o.k) {
      case 'ingest': {
        const heads = accountMaps(server).heads;
        heads.set(t, (heads.get(t) ?? 0) + o.n);
        break;
      }
      case 'apiRead':
        read(server, t, SERVER_DEVICE, o.seq);
        break;
      case 'read':
        read(replica.doc, t, replica.id, o.seq);
        break;
      case 'allRead':
        for (const each of THREADS) read(replica.doc, each, replica.id, Number.MAX_SAFE_INTEGER);
        break;
      case 'unread': {
        const m = v1Marker(replica.doc, t);
        const head = accountMaps(replica.doc).heads.get(t) ?? 0;
        const seq = o.from - 1;
        // Epochs stay far below MAX_EPOCH_LEAD: a history holds at most a few dozen unreads.
        if (seq < head && seq < unpackMarker(m).seq) {
          const value = packMarker(unpackMarker(m).epoch + 1, seq);
          model.unread(t, value);
          model.stats.v1Unreads++;
          accountMaps(replica.doc).reads.set(readsKey(t, replica.id), value);
        }
        break;
      }
      case 'mute':
        if (!o.on) model.unmuted.add(t);
        accountMaps(replica.doc).mutes.set(t, o.on);
        break;
      case 'connect':
        if (!replica.online) {
          replica.online = true;
          sync(replica);
        }
        break;
      case 'disconnect':
        replica.online = false;
        break;
      case 'sync':
        if (replica.online) sync(replica);
        break;
      case 'restart':
        for (const each of devices) each.online = false;
        server.destroy();
        startServer();
        break;
      case 'compact':
        break; // the v1 log stays a log: the migration must read every entry of it
    }
    const next = v1Snapshot(server);
    model.check(serverSnap, next, `v1 server after ${JSON.stringify(o)}`);
    serverSnap = next;
    for (const each of devices) {
      const snap = v1Snapshot(each.doc);
      model.check(each.snapshot, snap, `v1 ${each.id} after ${JSON.stringify(o)}`);
      each.snapshot = snap;
    }
  }
  // Stored as the v1 server stored it: its applied updates in the log, the client bindings of
  // every writer, the counts it derived.
  store.commit({
    updates: log.map((update) => ({ account: ACCOUNT, update })),
    counts: [{ account: ACCOUNT, counts: deriveV1Counts(server) }],
    bindings: [...server.store.clients.keys()].map((id) => ({
      account: ACCOUNT,
      clientId: id,
      device: bindings.get(id) as DeviceId,
    })),
    idempotency: [],
  });
  for (const each of devices) each.doc.destroy();
  return server;
}

/** A fresh v2 replica of a device, written only through the planners into its own array. */
class V2Replica {
  readonly doc = new Y.Doc();
  readonly tracker: CountsTracker;
  readonly own: KeyValueArray;
  member: RecordingMember | null = null;
  /** [MARK-5] A fresh replica writes markers and mute stamps only once it has synced. */
  synced = false;
  snapshot: Snapshot;

  constructor(
    readonly id: DeviceId,
    clientId: number,
  ) {
    this.doc.clientID = clientId;
    this.tracker = new CountsTracker(this.doc);
    this.own = new KeyValueArray(this.doc, deviceRoot(id));
    this.snapshot = v2Snapshot(this.tracker);
    this.doc.on('update', (update: Uint8Array, origin: unknown) => {
      if (origin !== REMOTE && this.member !== null) send(this.member, update);
    });
  }
}

function send(member: RecordingMember, update: Uint8Array): void {
  const result = member.sendUpdate(update);
  assert.deepEqual(result, { kind: 'ok' }, `the room refused an honest update of ${member.device}`);
}

/** The server side of phase 2: a real room on the store, reloaded on restart. */
class Server {
  readonly metrics = new Metrics();
  readonly fatal: unknown[] = [];
  readonly lines: Array<{ level: number; msg: string }> = [];
  readonly commit: GroupCommit;
  readonly #served: Store;
  room!: AccountRoom;

  constructor(readonly store: MemoryStore) {
    this.#served = asyncStore(store);
    this.commit = new GroupCommit(this.#served, this.metrics, (err) => this.fatal.push(err));
  }

  /** The server with its room loaded (and the v1 document migrated). */
  static async start(store: MemoryStore): Promise<Server> {
    const server = new Server(store);
    server.room = await server.load();
    return server;
  }

  load(): Promise<AccountRoom> {
    const log = pino({ level: 'debug' }, { write: (line: string) => this.lines.push(JSON.parse(line)) });
    return AccountRoom.load(ACCOUNT, {
      store: this.#served,
      commit: this.commit,
      metrics: this.metrics,
      log,
      events: { countsCommitted() {}, deviceOnline() {}, deviceOffline() {} },
    });
  }

  problems(): unknown[] {
    return this.lines.filter((line) => line.level >= WARN_LEVEL || line.msg === 'update not yet');
  }
}

async function playV2(ops: readonly Op[], rng: Rng, server: Server, model: Model): Promise<V2Replica[]> {
  const devices = DEVICES.map((id) => new V2Replica(id, rng.range(1, 2 ** 31 - 1)));
  let roomSnap = v2Snapshot(server.room.tracker);
  const sync = (replica: V2Replica, member: RecordingMember): void => {
    const room = server.room;
    Y.applyUpdate(replica.doc, Y.encodeStateAsUpdate(room.doc, Y.encodeStateVector(replica.doc)), REMOTE);
    replica.synced = true;
    send(member, Y.encodeStateAsUpdate(replica.doc, Y.encodeStateVector(room.doc)));
  };
  const write = (replica: V2Replica, t: ThreadId, value: number | null): void => {
    if (value === null) return;
    model.wroteV2(t, value);
    if (replica.member === null) model.stats.offlineWrites++;
    replica.own.set(t, value);
  };
  for (const o of ops) {
    const t = THREADS[('thread' in o ? o.thread : 0) % THREADS.length] as ThreadId;
    const replica = devices['dev' in o ? o.dev : 0] as V2Replica;
    const room = server.room;
    switch (o.k) {
      case 'ingest': {
        const head = room.tracker.head(t) + o.n;
        room.serverWrite(({ heads }) => heads.set(t, head));
        break;
      }
      case 'apiRead': {
        const value = planRead(room.tracker, t, SERVER_DEVICE, o.seq);
        if (value !== null) {
          model.wroteV2(t, value);
          room.serverWrite(({ reads }) => reads.set(t, value));
        }
        break;
      }
      case 'read':
        if (replica.synced) write(replica, t, planRead(replica.tracker, t, replica.id, o.seq));
        break;
      case 'allRead':
        if (replica.synced) {
          replica.doc.transact(() => {
            for (const each of planAllRead(replica.tracker, replica.id)) write(replica, each.thread, each.value);
          });
        }
        break;
      case 'unread': {
        if (!replica.synced) break;
        let value: number | null = null;
        try {
          value = planUnread(replica.tracker, t, replica.id, o.from);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err; // [MARK-3] too far ahead offline: nothing written
        }
        if (value !== null) {
          model.unread(t, value);
          model.stats.v2Unreads++;
        }
        write(replica, t, value);
        break;
      }
      case 'mute': {
        if (!replica.synced) break;
        let stamp: number | null = null;
        try {
          stamp = planMute(replica.tracker, t, replica.id, o.on);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err; // [MARK-7] too many offline toggles
        }
        if (stamp === null) break;
        if (!o.on) {
          model.unmuted.add(t);
          model.stats.unmutes++;
        }
        replica.own.set(muteKey(t), stamp);
        break;
      }
      case 'connect':
        if (replica.member === null) {
          replica.member = new RecordingMember(replica.id, room);
          sync(replica, replica.member);
        }
        break;
      case 'disconnect':
        replica.member?.close(1000, 'offline');
        replica.member = null;
        break;
      case 'sync':
        if (replica.member !== null) sync(replica, replica.member);
        break;
      case 'compact':
        await server.commit.flushed();
        {
          const compaction = room.compact();
          if (compaction) await compaction.done;
        }
        break;
      case 'restart':
        // A clean restart: connections close, the group commit writes, a new room loads.
        for (const each of devices) {
          each.member?.close(1001, 'server shutting down');
          each.member = null;
        }
        await server.commit.flushed();
        room.destroy();
        server.room = await server.load();
        model.stats.restarts++;
        break;
    }
    const next = v2Snapshot(server.room.tracker);
    model.check(roomSnap, next, `room after ${JSON.stringify(o)}`);
    roomSnap = next;
    for (const each of devices) {
      const snap = v2Snapshot(each.tracker);
      model.check(each.snapshot, snap, `${each.id} after ${JSON.stringify(o)}`);
      each.snapshot = snap;
    }
  }
  // Everyone comes online and syncs twice (the second round brings what the others sent).
  for (let round = 0; round < 2; round++) {
    for (const replica of devices) {
      replica.member ??= new RecordingMember(replica.id, server.room);
      sync(replica, replica.member);
      const snap = v2Snapshot(replica.tracker);
      model.check(replica.snapshot, snap, `${replica.id} at the end`);
      replica.snapshot = snap;
    }
  }
  await server.commit.flushed();
  return devices;
}

describe('the v1 → v2 migration in the middle of random histories', () => {
  test('[STORE-16] [DOC-15] [COUNT-8] [COUNT-9] several devices with offline periods, mark-as-unread, mutes, server reads and restarts, migrated mid-way: no read lost, no count raised, all converge', async () => {
    const totals: Record<string, number> = { runs: 0, mutedAtMigration: 0, serverMarkersAtMigration: 0, v1Epochs: 0 };
    const add = (key: string, n: number) => {
      totals[key] = (totals[key] ?? 0) + n;
    };
    await fc.assert(
      fc.asyncProperty(history, async ({ seed, v1, v2 }) => {
        const rng = new Rng(seed);
        const model = new Model();
        const store = new MemoryStore();
        const v1Server = playV1(v1, rng, store, model);
        const v1Counts: AccountCounts = deriveV1Counts(v1Server);
        const v1Snap = v1Snapshot(v1Server);
        const v1Reads = new Map(accountMaps(v1Server).reads.entries());

        // Phase 2: the room loads the v1 document and converts it.
        const server = await Server.start(store);
        try {
          const room = server.room;
          assert.equal(hasV1Content(room.doc), false, 'the room holds v1 content after loading');
          assert.deepEqual(room.tracker.counts(), v1Counts, '[STORE-16] the migration changed the counts');
          assert.deepEqual(deriveCounts(room.doc), v1Counts);
          assert.deepEqual(store.getCounts(ACCOUNT), v1Counts, 'the stored counts are not the v1 ones');
          for (const [key, value] of v1Reads) {
            const parsed = parseReadsKey(key);
            if (parsed === null) continue;
            assert.equal(room.tracker.markers(parsed.thread).get(parsed.device), value, `[DOC-15] marker ${key}`);
          }
          model.check(v1Snap, v2Snapshot(room.tracker), 'the migration');
          const migrations = server.lines.filter((line) => line.msg === MIGRATED).length;
          assert.equal(migrations, hasV1Content(v1Server) ? 1 : 0, 'one migration log line per v1 account');
          add('mutedAtMigration', v1Counts.muted.length);
          add('serverMarkersAtMigration', [...v1Reads.keys()].filter((k) => k.endsWith(`/${SERVER_DEVICE}`)).length);
          add('v1Epochs', [...v1Snap.values()].filter((s) => s.m >= 2 ** 32).length);

          const devices = await playV2(v2, rng, server, model);

          // [COUNT-8] Convergence: every replica, the room, the stored counts and a reload agree.
          const final = server.room;
          const expected = deriveCounts(final.doc);
          assert.deepEqual(final.tracker.counts(), expected);
          assert.deepEqual(store.getCounts(ACCOUNT), expected, 'the stored counts differ from the room');
          const reloaded = await server.load();
          assert.deepEqual(reloaded.tracker.counts(), expected, 'a reload from the store derives other counts');
          assert.deepEqual(v2Snapshot(reloaded.tracker), v2Snapshot(final.tracker));
          reloaded.destroy();
          for (const replica of devices) {
            assert.deepEqual(replica.tracker.counts(), expected, `${replica.id}: counts differ from the room's`);
            assert.deepEqual(deriveCounts(replica.doc), expected);
          }
          // [COUNT-9] No lost read: m(t) is the largest marker that ever reached the server.
          for (const t of THREADS) {
            const want = Math.max((v1Snap.get(t) as ThreadState).m, model.v2Max.get(t) ?? 0);
            assert.equal(final.tracker.maxMarker(t), want, `m(${t})`);
            for (const replica of devices) {
              const mine = valueIn(replica.doc, deviceRoot(replica.id), t);
              if (mine !== undefined) assert.ok((valueIn(final.doc, deviceRoot(replica.id), t) ?? -1) >= mine);
            }
          }
          assert.deepEqual(server.problems(), [], 'the room logged a problem or dropped an update');
          assert.deepEqual(server.fatal, []);
          for (const replica of devices) replica.doc.destroy();
        } finally {
          server.commit.close();
          server.room.destroy();
          store.close();
          v1Server.destroy();
        }
        add('runs', 1);
        for (const [key, n] of Object.entries(model.stats)) add(key, n);
      }),
      propertyParams('room migration', 300),
    );
    console.log('[room migration] totals', totals);
    // The generator must reach what the property is about.
    const { mutedAtMigration = 0, serverMarkersAtMigration = 0, v1Epochs = 0, v2Unreads = 0, unmutes = 0 } = totals;
    assert.ok(mutedAtMigration > 0 && serverMarkersAtMigration > 0 && v1Epochs > 0, 'the v1 documents were too plain');
    assert.ok(v2Unreads > 0 && unmutes > 0 && (totals.restarts ?? 0) > 0 && (totals.offlineWrites ?? 0) > 0);
  });
});
