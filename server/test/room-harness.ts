/**
 * The server's own sync path in one process: a real AccountRoom, real Sessions and a real
 * GroupCommit on a MemoryStore, with devices connected through TestSocketPairs. Nothing runs
 * until the test says so: frames wait in their pairs, and the group commit (which the room
 * waits on before it relays or answers) writes only when the test awaits `committed()`.
 * A restart is a new room and a new group commit on the same store; a crash also loses what
 * the last group commit had not yet written.
 */
import {
  type AccountCounts,
  type AccountId,
  CloseCode,
  type DeviceId,
  planRead,
  SERVER_DEVICE,
  type ThreadId,
} from '@badgesync/shared';
import { pino } from 'pino';
import * as Y from 'yjs';
import { Metrics } from '../src/metrics.js';
import { AccountRoom } from '../src/rooms/account-room.js';
import { GroupCommit } from '../src/rooms/group-commit.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/index.js';
import { DEFAULT_SESSION_LIMITS, Session } from '../src/sync/session.js';
import { loadedFrom } from './room-rig.js';
import { TestSocketPair } from './socket-pair.js';

/** A token that outlives any test: expiry is not what these tests are about. */
const TOKEN_LIFETIME_MS = 24 * 60 * 60 * 1000;

/** What a device does with what reaches its end of a connection. */
export interface ClientEnd {
  message(data: Uint8Array): void;
  closed(code: number, reason: string): void;
}

/** A line the room or a session logged. */
export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** pino's level number for `error`. */
const ERROR_LEVEL = 50;

interface Lifetime {
  readonly room: AccountRoom;
  readonly commit: GroupCommit;
  /** Set by a crash: this lifetime's writes no longer reach the store. */
  dead: boolean;
}

export class RoomHarness {
  readonly store = new MemoryStore();
  readonly metrics = new Metrics();
  /** Failed commits (the process would stop). */
  readonly fatal: unknown[] = [];
  /** Counts as reported to push once on disk, latest last. */
  readonly committedCounts: AccountCounts[] = [];
  /** Updates the room dropped as "not yet" (its debug log), since the harness started. */
  notYet = 0;
  /** Every warning and error the room and its sessions logged. */
  readonly problems: LogLine[] = [];
  readonly #log = pino({ level: 'debug' }, { write: (line: string) => this.#onLog(line) });
  /** Open connections: each pair with the Session on its server end. */
  readonly #sessions = new Map<TestSocketPair, Session>();
  readonly #retired: Lifetime[] = [];
  #life: Lifetime;

  /**
   * `serverClientId` picks the Yjs client ID of each new room (the room's own writes), so a
   * seed replays exactly: Yjs would otherwise draw it at random, and it orders concurrent
   * writes.
   */
  constructor(
    readonly account: AccountId,
    private readonly serverClientId: () => number,
  ) {
    this.#life = this.#start();
  }

  get room(): AccountRoom {
    return this.#life.room;
  }

  get commit(): GroupCommit {
    return this.#life.commit;
  }

  #start(): Lifetime {
    const life = { dead: false } as { dead: boolean };
    const real = this.store;
    // The store as this lifetime sees it: after a crash its writes are lost, as unflushed
    // writes of a killed process are.
    const store = new Proxy(real, {
      get(target, prop) {
        if (life.dead && (prop === 'commit' || prop === 'transaction')) return () => {};
        // A dead process's batch is written nowhere; null says "done", as the memory store does.
        if (life.dead && prop === 'commitAsync') return () => null;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const served = asyncStore(store);
    const commit = new GroupCommit(served, this.metrics, (err) => this.fatal.push(err));
    const room = new AccountRoom(
      this.account,
      {
        store: served,
        commit,
        metrics: this.metrics,
        log: this.#log,
        events: {
          countsCommitted: (_account, counts) => {
            if (!life.dead) this.committedCounts.push(counts);
          },
          deviceOnline() {},
          deviceOffline() {},
        },
      },
      loadedFrom(store, this.account),
    );
    const used = new Set([...room.doc.store.clients.keys(), ...this.store.loadBindings(this.account).keys()]);
    let id = this.serverClientId();
    while (used.has(id)) id = this.serverClientId();
    // Before the room's first write: the room binds whatever ID its document has then.
    room.doc.clientID = id;
    return Object.assign(life, { room, commit });
  }

  #onLog(line: string): void {
    const entry = JSON.parse(line) as LogLine;
    if (entry.msg === 'update not yet') this.notYet++;
    if (entry.level >= 40) this.problems.push(entry);
  }

  /** Errors logged (an accepted update that could not be applied, a poisoned room, …). */
  errors(): LogLine[] {
    return this.problems.filter((line) => line.level >= ERROR_LEVEL);
  }

  /**
   * Opens a connection of `device` as the sync endpoint does once the token checked out: a
   * Session on the server end, `client` on the other. The room's sync step 1 waits in the pair.
   * Unlike the endpoint, which closes the socket with 4400 when handling a frame throws, the
   * harness lets the throw reach the test: in these tests it is a bug.
   */
  connect(device: DeviceId, client: ClientEnd): TestSocketPair {
    const pair = new TestSocketPair();
    const claims = { account: this.account, device, expiresAt: Date.now() + TOKEN_LIFETIME_MS, issuedAt: null };
    pair.attach({
      serverMessage: (data) => this.#sessions.get(pair)?.receive(data, true),
      serverClosed: () => {
        this.#sessions.get(pair)?.detach();
        this.#sessions.delete(pair);
      },
      clientMessage: (data) => client.message(data),
      clientClosed: (code, reason) => client.closed(code, reason),
    });
    const session = new Session(pair.server, claims, this.room, DEFAULT_SESSION_LIMITS, this.metrics, this.#log);
    this.#sessions.set(pair, session);
    return pair;
  }

  /** Everything the room wrote so far is on disk, and what waited on that has run. */
  async committed(): Promise<void> {
    await this.commit.flushed();
  }

  /** POST /items: head(thread) += n in `v2/heads`, written by the room as its own peer (as the API does). */
  ingest(thread: ThreadId, n: number): void {
    const head = this.room.tracker.head(thread) + n;
    this.room.serverWrite(({ heads }) => heads.set(thread, head));
  }

  /** POST /read: a read made outside any device, written into `v2/device/@server` (as the API does). */
  apiRead(thread: ThreadId, seq: number): void {
    const room = this.room;
    const value = planRead(room.tracker, thread, SERVER_DEVICE, seq);
    if (value !== null) room.serverWrite(({ reads }) => reads.set(thread, value));
  }

  /**
   * A clean restart, in the server's shutdown order: every connection is closed with 1001, the
   * group commit writes what it holds, and a new room loads from the store. What was queued for
   * the devices, the 1001 last, still reaches them.
   */
  restart(): void {
    const old = this.#life;
    const pairs = [...this.#sessions.keys()];
    for (const session of this.#sessions.values()) session.close(CloseCode.goingAway, 'server shutting down');
    old.commit.close();
    for (const pair of pairs) pair.flushToClient();
    old.room.destroy();
    this.#life = this.#start();
  }

  /** The process dies: connections drop, the unwritten group commit is lost, a new room loads. */
  crash(): void {
    const old = this.#life;
    old.dead = true;
    for (const pair of [...this.#sessions.keys()]) pair.dropFromClient();
    // Its scheduled commit still fires, into nothing; the room is destroyed at close.
    this.#retired.push(old);
    this.#life = this.#start();
  }

  /** The document as the store holds it: what a restart would load. */
  storedUpdates(): readonly Uint8Array[] {
    return this.store.loadDoc(this.account).updates;
  }

  /** The client bindings as the store holds them (the room's own, once committed). */
  storedBindings(): Map<number, DeviceId> {
    return this.store.loadBindings(this.account);
  }

  /** The counts the store holds for the account (what GET /badge answers). */
  storedCounts(): AccountCounts | null {
    return this.store.getCounts(this.account);
  }

  /** A copy of the server's document, as a fresh replica would load it. */
  cloneDoc(): Y.Doc {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, Y.encodeStateAsUpdate(this.room.doc));
    return doc;
  }

  close(): void {
    for (const pair of [...this.#sessions.keys()]) pair.dropFromClient();
    for (const life of this.#retired) {
      life.commit.close();
      life.room.destroy();
    }
    this.#life.commit.close();
    this.#life.room.destroy();
    this.store.close();
  }
}
