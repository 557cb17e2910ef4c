import { randomInt } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  type AccountCounts,
  type AccountId,
  type Applied,
  ApplyFailure,
  applyChecked,
  type CheckedUpdate,
  CloseCode,
  CountsTracker,
  checkBudgets,
  checkUpdate,
  convertV1Document,
  type DeviceId,
  type DocumentBudgets,
  deriveCounts,
  deriveV1Counts,
  deviceRoot,
  HEADS_ROOT,
  hasV1Content,
  KeyValueArray,
  MAX_CLIENT_ID,
  SERVER_DEVICE,
  stateVectorProblem,
  type ThreadId,
  type Verdict,
} from '@badgesync/shared';
import type { Logger } from 'pino';
import * as Y from 'yjs';
import { documentBudgets, loadConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { RoomEvents } from '../push/ports.js';
import type { MigratedDoc, ServerClientLease } from '../store/cluster-store.js';
import { ServerClientLeaseLost } from '../store/server-client-lease-lost.js';
import type { DocReplacement, Store, StoredDoc } from '../store/store.js';
import {
  type AwarenessBudget,
  AwarenessRelay,
  type ClientClaim,
  DEFAULT_AWARENESS_BUDGET,
} from '../sync/awareness-relay.js';
import { encodeAwareness, encodeStep1, encodeStep2, encodeUpdate } from '../sync/protocol.js';
import type { GroupCommit } from './group-commit.js';
import type { ServerClientLeasing } from './server-client-leasing.js';

/**
 * An account that holds more client IDs than the account budget allows: not loaded (SPEC
 * BUDGET-5). Answered like a full server (503 overloaded), since the device can do nothing
 * about it; the log names the account for the operator.
 */
export class AccountOverBudgetError extends Error {}

const DEFAULT_DOCUMENT_BUDGETS: DocumentBudgets = documentBudgets(loadConfig([], {}));

/**
 * The largest client ID bound to the server that the document holds structs of, or null.
 * Only those: Yjs continues a client's clock from the structs the document holds, so an ID
 * the document lacks would start again at clock 0. That is the case of the server's v1 IDs
 * after the migration (STORE-16): v1 replicas still hold their structs, and a v2 struct under
 * the same ID and clock would be a different struct with the same name.
 */
function serverClientOf(bindings: ReadonlyMap<number, DeviceId>, doc: Y.Doc): number | null {
  let found: number | null = null;
  for (const [clientId, device] of bindings) {
    if (device !== SERVER_DEVICE || !doc.store.clients.has(clientId)) continue;
    if (found === null || clientId > found) found = clientId;
  }
  return found;
}

/** What the server writes with (SPEC DOC-13): the heads array, and its own device array for API reads. */
export interface ServerArrays {
  readonly heads: KeyValueArray;
  /** `v2/device/@server`: reads made through the API (API-3). */
  readonly reads: KeyValueArray;
}

/** A connection as a room sees it. */
export interface RoomMember {
  readonly device: DeviceId;
  send(message: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface RoomDeps {
  readonly store: Store;
  readonly commit: GroupCommit;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly events: RoomEvents;
  /** How much one account's document may hold (SPEC BUDGET-1, BUDGET-6, BUDGET-7). Default: the settings' defaults. */
  readonly budgets?: DocumentBudgets;
  /** Default: DEFAULT_AWARENESS_BUDGET, the settings' defaults. */
  readonly awareness?: AwarenessBudget;
  /**
   * Cluster mode (docs/CLUSTER.md): the log seq through which the account's replica holds
   * every entry. A compaction replaces the log only up to it: entries other nodes committed
   * that this replica has not applied yet stay. Every counts entry the room hands the group
   * commit names it (SPEC STORE-27), and every update it commits comes with one. Default:
   * none (one node writes the log).
   */
  readonly logHeldThrough?: (room: AccountRoom) => number;
  /**
   * False: each load writes under a new client ID of its own. Two nodes holding one account
   * would both continue the server's stored client ID, at the same clocks: two different
   * structs under one ID, which Yjs takes for one. A cluster node uses `leases` instead (a
   * cluster without them, a test rig, passes false). Default: true (BUDGET-1).
   */
  readonly reuseServerClient?: boolean;
  /**
   * Cluster mode (SPEC CLUSTER-60): each load leases a server client ID of the account that no
   * live node holds (one used before when there is one) and writes under it; the lease is
   * released once the room unloaded with its writes durable. Set, it replaces
   * `reuseServerClient`. Default: none.
   */
  readonly leases?: ServerClientLeasing;
  /**
   * Cluster mode (SPEC STORE-43): a v1 document is read again and replaced in one transaction
   * holding the account's lock (ClusterStore.migrateDoc), so two nodes loading it at once
   * migrate it once. Default: none (replaceDoc; one node loads an account at a time).
   */
  readonly migrateDoc?: (
    account: AccountId,
    convert: (stored: StoredDoc) => DocReplacement | null,
  ) => Promise<MigratedDoc>;
  /**
   * Cluster mode: brings the replica up to the shared log (a repair, docs/CLUSTER.md). A device
   * update refused on this replica is judged again after it (SPEC CLUSTER-20).
   */
  readonly catchUp?: (room: AccountRoom) => Promise<void>;
  /**
   * Cluster mode: the room was just published (RoomManager). Updates other nodes committed
   * while it loaded reached no room here: the cluster link catches it up at once (CLUSTER-45)
   * rather than at the next message's hole or the next reconciliation.
   */
  readonly published?: (room: AccountRoom) => void;
}

/**
 * An account as read from the store (AccountRoom.load): its client bindings, its document
 * replayed (contract v2: a v1 one is migrated before it gets here) and the log entries after
 * the stored snapshot.
 */
export interface LoadedAccount {
  readonly bindings: Map<number, DeviceId>;
  readonly doc: Y.Doc;
  readonly logCount: number;
  /** The log ID (cluster: seq) of the last entry the load replayed (default 0). */
  readonly lastLogId?: number;
  /** Cluster mode: the server client ID leased to this load (RoomDeps.leases), written under. */
  readonly serverLease?: ServerClientLease;
}

/**
 * A server write made inside ClusterStore.exclusive (cluster mode, SPEC STORE-26): what that
 * transaction writes for it, and what the room does once it committed or failed.
 */
export interface ExclusiveServerWrite {
  /** The updates the write made (nothing when it changed nothing). */
  readonly updates: readonly Uint8Array[];
  /** Client IDs bound by it (the server's, on its first write). */
  readonly bindings: ReadonlyArray<{ readonly clientId: number; readonly device: DeviceId }>;
  /**
   * The account's whole counts, when the replica held nothing else waiting for disk: then they
   * are the counts of the log once this write commits, and that transaction writes them. Null:
   * the group commit writes them with the writes that wait (naming the watermark, STORE-27).
   */
  readonly counts: AccountCounts | null;
  /** The transaction committed: relays the updates and tells push of the counts. */
  committed(): void;
  /** The transaction failed: memory is ahead of the log, the room reloads. */
  failed(err: unknown): void;
}

/** What a room is loaded with (RoomManager): see the constructor. */
export interface RoomOptions {
  readonly reuseServerClient: boolean;
}

/**
 * `bytes` in an ArrayBuffer of its own. A received update is a view into the socket's read
 * buffer: kept as it is (the batch in flight, the store's overlay), it would hold that whole
 * buffer in memory as long as the update is.
 */
function ownCopy(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
}

/** A v1 document converted (AccountRoom.#convert): the v2 document, its server client ID, its replacement. */
interface Converted {
  readonly v2: Y.Doc;
  readonly clientId: number;
  readonly replacement: DocReplacement;
}

/** Transaction origin of updates replayed from the store: not persisted again, not relayed. */
const LOADING = Symbol('loading');
/** Transaction origin of the server's own writes (heads, API reads). */
const SERVER = Symbol('server');
/**
 * Transaction origin of updates another node of the cluster committed (docs/CLUSTER.md):
 * judged there, already in the shared log, counted there. Relayed, not persisted.
 */
const REMOTE = Symbol('remote');

export type ReceiveResult =
  | { readonly kind: 'ok' }
  | { readonly kind: 'refused'; readonly code: number; readonly reason: string };

/**
 * One account's document in memory (SPEC SYNC-3..SYNC-5): the server's replica, its
 * counts, the client bindings, and the connections of the account's devices. Every
 * incoming update passes the write rules; an applied update is persisted (group commit)
 * before it is relayed to the other connections and before counts reach push.
 */
export class AccountRoom {
  readonly doc: Y.Doc;
  readonly tracker: CountsTracker;
  readonly #arrays: ServerArrays;
  readonly members = new Set<RoomMember>();
  readonly #awareness: AwarenessRelay;
  readonly #bindings: Map<number, DeviceId>;
  readonly #budgets: DocumentBudgets;
  /** Client IDs bound per device, for the per-device budget (BUDGET-1). */
  readonly #clientsOf = new Map<DeviceId, number>();
  readonly #online = new Map<DeviceId, number>();
  /** Threads whose counts changed since they were last handed to the group commit. */
  readonly #countsChanged = new Set<ThreadId>();
  /** Updates of the transaction in progress, held until it is known to have applied cleanly. */
  #staged: Uint8Array[] | null = null;
  #serverBound = false;
  #pendingWrites = 0;
  #leases = 0;
  #poisoned = false;
  /** Cluster mode: the lease of the server client ID this room writes under; null once released. */
  #lease: ServerClientLease | null;
  /** Log entries after the snapshot: compaction is due when this grows. */
  logCount: number;
  /** The log ID (cluster: seq) of the last entry the load replayed. */
  readonly loadedLogId: number;
  /** Inside applyRemote: the counts change is the committing node's to write and push. */
  #applyingRemote = false;
  /** Inside exclusiveWrite: where its updates and bindings go instead of the group commit. */
  #exclusive: {
    readonly updates: Uint8Array[];
    readonly bindings: Array<{ clientId: number; device: DeviceId }>;
    /** The exclusive transaction writes the whole counts: none are marked for the group commit. */
    readonly countsThere: boolean;
  } | null = null;
  /** [SYNC-19] The group commit batch (GroupCommit.gathering) that tells push this room's counts; -1: none yet. */
  #countsToldIn = -1;
  readonly #tellCounts = (): void => this.deps.events.countsCommitted(this.account, this.tracker.counts());
  /** The next counts handed to the group commit are the whole counts (a stale entry's repair). */
  #countsWhole = false;
  lastActive = Date.now();

  constructor(
    readonly account: AccountId,
    private readonly deps: RoomDeps,
    loaded: LoadedAccount,
    /**
     * reuseServerClient is false when a room of this account was dropped with writes not yet
     * on disk (a poisoned reload): those writes are still under the old client ID's next
     * clocks, so reusing it could give two different structs one ID.
     */
    options: RoomOptions = { reuseServerClient: true },
  ) {
    if (hasV1Content(loaded.doc)) throw new Error(`account ${account}: a v1 document is migrated as it loads`);
    this.#budgets = deps.budgets ?? DEFAULT_DOCUMENT_BUDGETS;
    this.#bindings = loaded.bindings;
    this.#awareness = new AwarenessRelay(deps.awareness ?? DEFAULT_AWARENESS_BUDGET);
    this.doc = loaded.doc;
    this.logCount = loaded.logCount;
    this.loadedLogId = loaded.lastLogId ?? 0;
    // [BUDGET-1] The server writes under the client ID it used before, when it has one: a new
    // ID per load bound one more @server binding each time an unloaded account took an item,
    // hundreds a day, until the account was over its client-ID budget. The store holds every
    // struct the server wrote under it (persisted before relayed), so its clock continues.
    // Set after the replay: Yjs gives a document a new client ID when a remote update writes
    // under its own.
    // [CLUSTER-60] In a cluster, the leased ID: no other node writes under it while the lease
    // holds, and the store holds every struct written under it before (its writes are fenced
    // by the lease, CLUSTER-61), so its clock continues from the replayed state as above.
    this.#lease = loaded.serverLease ?? null;
    const reuse = options.reuseServerClient && (deps.reuseServerClient ?? true);
    const reused = this.#lease?.clientId ?? (reuse ? serverClientOf(this.#bindings, this.doc) : null);
    if (reused !== null) this.doc.clientID = reused;
    for (const device of this.#bindings.values()) this.#clientsOf.set(device, (this.#clientsOf.get(device) ?? 0) + 1);
    this.#arrays = {
      heads: new KeyValueArray(this.doc, HEADS_ROOT),
      reads: new KeyValueArray(this.doc, deviceRoot(SERVER_DEVICE)),
    };
    this.tracker = new CountsTracker(this.doc);
    this.tracker.onChange((change) => {
      if (this.#applyingRemote) return;
      // Written whole by the exclusive transaction, told to push once it committed.
      if (this.#exclusive?.countsThere === true) return;
      for (const thread of change.threads) this.#countsChanged.add(thread);
      this.#markCounts();
      // [SYNC-19] Push hears the counts once per batch: the counts are read when the batch is
      // durable, so every change of one batch would tell it the same counts again.
      const batch = this.deps.commit.gathering;
      if (this.#countsToldIn === batch) return;
      this.#countsToldIn = batch;
      this.deps.commit.afterCommit(this.#tellCounts);
    });
    this.doc.on('update', this.#onUpdate);
  }

  /**
   * Reads the account from the store and builds its room: bindings first ([BUDGET-5] an
   * account over its client-ID budget is refused before its document is read or replayed),
   * then the document, replayed, and migrated when it is a v1 one (STORE-16). The room exists
   * only once every read and the migration's write resolved (SYNC-16), so nothing can write to
   * it in between. Rejects with AccountOverBudgetError, or the store's failure.
   */
  static async load(account: AccountId, deps: RoomDeps, options?: RoomOptions): Promise<AccountRoom> {
    const budgets = deps.budgets ?? DEFAULT_DOCUMENT_BUDGETS;
    const bindings = await deps.store.loadBindings(account);
    if (bindings.size > budgets.clientsPerAccount) {
      // [BUDGET-5] Stored before the budget held (or the budget was lowered): replaying it could
      // stall every account for seconds to minutes. Refused, not loaded; the data stays.
      deps.metrics.budgetRefusals.inc({ budget: 'clientsPerAccount' });
      deps.log.error(
        { account, clients: bindings.size, budget: budgets.clientsPerAccount },
        'account over its client-ID budget is not loaded',
      );
      throw new AccountOverBudgetError(
        `account ${account} holds ${bindings.size} client IDs, over BADGESYNC_MAX_CLIENTS_PER_ACCOUNT`,
      );
    }
    // [CLUSTER-60] Leased before the document is read: every write under the ID committed before
    // this take is in what the read answers, and none can commit after it (STORE-42's fence;
    // a take skips a row a fenced write holds).
    const target: { room: AccountRoom | null; lost: boolean } = { room: null, lost: false };
    const serverLease = await deps.leases?.take(account, () => {
      target.lost = true;
      target.room?.leaseLost();
    });
    try {
      const room = await AccountRoom.#loadDoc(account, deps, bindings, options, serverLease);
      target.room = room;
      if (target.lost) room.leaseLost();
      return room;
    } catch (err) {
      if (serverLease !== undefined) deps.leases?.release(serverLease);
      throw err;
    }
  }

  /** The rest of `load`: the document, replayed, migrated when it is a v1 one. */
  static async #loadDoc(
    account: AccountId,
    deps: RoomDeps,
    bindings: Map<number, DeviceId>,
    options: RoomOptions | undefined,
    serverLease: ServerClientLease | undefined,
  ): Promise<AccountRoom> {
    const lease = serverLease === undefined ? {} : { serverLease };
    const stored = await deps.store.loadDoc(account);
    // A guid of its own: Yjs would draw a random UUID, one crypto call per hex digit (31 per
    // load). The server's document is never a subdocument, where the guid would matter.
    const loaded = new Y.Doc({ guid: account });
    loaded.transact(() => {
      for (const update of stored.updates) Y.applyUpdate(loaded, update, LOADING);
    }, LOADING);
    if (!hasV1Content(loaded)) {
      const { logCount, lastLogId } = stored;
      return new AccountRoom(account, deps, { bindings, doc: loaded, logCount, lastLogId, ...lease }, options);
    }
    try {
      if (deps.migrateDoc !== undefined) {
        return await AccountRoom.#migrateExclusively(account, deps, deps.migrateDoc, bindings, options, lease);
      }
      const doc = await AccountRoom.#migrate(account, deps, bindings, loaded, stored);
      const migrated = { bindings, doc, logCount: 0, lastLogId: stored.lastLogId, ...lease };
      return new AccountRoom(account, deps, migrated, options);
    } finally {
      loaded.destroy();
    }
  }

  /**
   * [STORE-16] A stored contract-v1 document becomes a v2 one, once: converted under a new
   * client ID of the server's (none of the v1 document's, see serverClientOf), and the whole
   * stored document replaced by the v2 snapshot, with that ID's binding and the counts, in one
   * store transaction. The devices' bindings stay. Runs before the room exists (load), so no
   * write of this room can land between the load and the replacement.
   */
  static async #migrate(
    account: AccountId,
    deps: RoomDeps,
    bindings: Map<number, DeviceId>,
    v1: Y.Doc,
    stored: StoredDoc,
  ): Promise<Y.Doc> {
    const converted = AccountRoom.#convert(account, deps, bindings, v1, stored);
    try {
      await deps.store.replaceDoc(account, converted.replacement);
    } catch (err) {
      converted.v2.destroy();
      throw err;
    }
    AccountRoom.#migrated(account, deps, bindings, converted, stored);
    return converted.v2;
  }

  /**
   * [STORE-43] Cluster mode: another node may be migrating the same v1 document at this moment,
   * each under its own client ID; the second replacement would drop the first one's v2 document
   * under the devices and writes that already hold it. So the document is read again and
   * replaced in one transaction holding the account's lock: the node that comes second reads the
   * v2 document and loads that.
   */
  static async #migrateExclusively(
    account: AccountId,
    deps: RoomDeps,
    migrateDoc: NonNullable<RoomDeps['migrateDoc']>,
    bindings: Map<number, DeviceId>,
    options: RoomOptions | undefined,
    lease: { serverLease?: ServerClientLease },
  ): Promise<AccountRoom> {
    let converted: Converted | null = null;
    let current: Y.Doc | null = null;
    try {
      const { stored, replaced } = await migrateDoc(account, (now) => {
        const doc = new Y.Doc({ guid: account });
        doc.transact(() => {
          for (const update of now.updates) Y.applyUpdate(doc, update, LOADING);
        }, LOADING);
        if (!hasV1Content(doc)) {
          current = doc;
          return null;
        }
        try {
          converted = AccountRoom.#convert(account, deps, bindings, doc, now);
        } finally {
          doc.destroy();
        }
        return converted.replacement;
      });
      const done = converted as Converted | null;
      if (replaced && done !== null) {
        AccountRoom.#migrated(account, deps, bindings, done, stored);
        converted = null;
        const migrated = { bindings, doc: done.v2, logCount: 0, lastLogId: stored.lastLogId, ...lease };
        return new AccountRoom(account, deps, migrated, options);
      }
      const doc = current as Y.Doc | null;
      if (doc === null) throw new Error(`account ${account}: the migration neither replaced nor read a v2 document`);
      current = null;
      const { logCount, lastLogId } = stored;
      return new AccountRoom(account, deps, { bindings, doc, logCount, lastLogId, ...lease }, options);
    } finally {
      (converted as Converted | null)?.v2.destroy();
      (current as Y.Doc | null)?.destroy();
    }
  }

  /** [STORE-16] The v2 document of a v1 one, under a new server client ID, and its replacement. */
  static #convert(
    account: AccountId,
    deps: RoomDeps,
    bindings: Map<number, DeviceId>,
    v1: Y.Doc,
    stored: StoredDoc,
  ): Converted {
    let clientId = randomInt(1, MAX_CLIENT_ID);
    while (bindings.has(clientId) || v1.store.clients.has(clientId)) clientId = randomInt(1, MAX_CLIENT_ID);
    const before = deriveV1Counts(v1);
    const v2 = convertV1Document(v1, clientId);
    const counts = deriveCounts(v2);
    if (!isDeepStrictEqual(counts, before)) {
      // The conversion keeps the counts (a shared property test holds it); the v2 document is
      // what devices see from now on, so its counts are the ones stored either way.
      deps.log.error({ account, before, after: counts }, 'v1 migration changed the counts');
    }
    const snapshot = Y.encodeStateAsUpdate(v2);
    const replacement: DocReplacement = {
      snapshot,
      throughLogId: stored.lastLogId,
      bindings: [{ clientId, device: SERVER_DEVICE }],
      counts,
    };
    return { v2, clientId, replacement };
  }

  /** The replacement is stored: the server's new ID bound, the migration counted and logged. */
  static #migrated(
    account: AccountId,
    deps: RoomDeps,
    bindings: Map<number, DeviceId>,
    converted: Converted,
    stored: StoredDoc,
  ): void {
    const { clientId, replacement } = converted;
    bindings.set(clientId, SERVER_DEVICE);
    deps.metrics.documentsMigrated.inc();
    deps.log.info(
      {
        account,
        serverClient: clientId,
        v1LogEntries: stored.logCount,
        v1Bytes: stored.updates.reduce((sum, update) => sum + update.byteLength, 0),
        v2Bytes: replacement.snapshot.byteLength,
        badge: replacement.counts.badge,
      },
      'account document migrated to contract v2',
    );
  }

  /** Hands the group commit the counts to write with the turn's batch (read when it is handed over). */
  #markCounts(): void {
    this.deps.commit.markCounts(this.account, () => {
      const changed = [...this.#countsChanged];
      const whole = this.#countsWhole;
      this.#countsChanged.clear();
      this.#countsWhole = false;
      // A poisoned room's counts may include a half-applied update: none are written, so
      // the stored ones stay (the store is not read here: its answer would come too late).
      if (this.#poisoned) return null;
      // [STORE-27] In a cluster, written only if the log holds no entry this replica lacks.
      const held = this.deps.logHeldThrough?.(this);
      const heldThrough = held === undefined ? {} : { heldThrough: held };
      if (whole) return { counts: this.tracker.counts(), ...heldThrough };
      // [STORE-15] Only the threads that changed since the last commit are written.
      return { counts: this.tracker.countsOf(changed), changed, ...heldThrough };
    });
  }

  /**
   * [STORE-27] The store left this room's counts out (the log held entries its replica
   * lacked): once the replica caught up, the whole counts go with the next batch, naming the
   * new watermark. Repeated until a batch finds the log where the replica is (a quiet moment).
   */
  recount(): void {
    if (this.#poisoned) return;
    this.#countsWhole = true;
    this.#markCounts();
  }

  /** Nothing holds the room: no connection, no write waiting for disk, no request in progress. */
  get idle(): boolean {
    return this.members.size === 0 && this.#pendingWrites === 0 && this.#leases === 0;
  }

  /** Every write of this room is on disk. */
  get settled(): boolean {
    return this.#pendingWrites === 0;
  }

  get poisoned(): boolean {
    return this.#poisoned;
  }

  /** Keeps the room loaded while `work` runs (an API request that awaits the disk). */
  async hold<T>(work: () => Promise<T>): Promise<T> {
    this.#leases++;
    try {
      return await work();
    } finally {
      this.#leases--;
      this.lastActive = Date.now();
    }
  }

  join(member: RoomMember): void {
    this.members.add(member);
    this.lastActive = Date.now();
    const count = this.#online.get(member.device) ?? 0;
    this.#online.set(member.device, count + 1);
    member.send(encodeStep1(Y.encodeStateVector(this.doc)));
    const states = this.#awareness.snapshot();
    if (states !== null) member.send(encodeAwareness(states));
    if (count === 0) this.deps.events.deviceOnline(this.account, member.device);
  }

  leave(member: RoomMember): void {
    if (!this.members.delete(member)) return;
    this.lastActive = Date.now();
    const gone = this.#awareness.removeOwner(member);
    if (gone !== null) this.#broadcast(encodeAwareness(gone), null);
    const count = (this.#online.get(member.device) ?? 1) - 1;
    if (count > 0) this.#online.set(member.device, count);
    else {
      this.#online.delete(member.device);
      this.deps.events.deviceOffline(this.account, member.device);
    }
  }

  isOnline(device: DeviceId): boolean {
    return this.#online.has(device);
  }

  /**
   * Answers a sync step 1 once everything the reply could contain is on disk. [SYNC-12] A
   * state vector with a number Yjs cannot use exactly closes the asker with 4400 at once;
   * a throw while encoding the answer closes only the asker, never the commit's callbacks.
   */
  answerStep1(member: RoomMember, stateVector: Uint8Array): void {
    const problem = stateVectorProblem(stateVector);
    if (problem !== null) {
      this.deps.log.warn({ account: this.account, device: member.device, detail: problem }, 'state vector refused');
      member.close(CloseCode.invalidMessage, `malformed state vector: ${problem}`.slice(0, 120));
      return;
    }
    this.deps.commit.afterCommit(() => {
      if (!this.members.has(member)) return;
      let answer: Uint8Array;
      try {
        answer = Y.encodeStateAsUpdate(this.doc, stateVector);
      } catch (err) {
        this.deps.log.warn({ account: this.account, device: member.device, err }, 'cannot answer a step 1');
        member.close(CloseCode.invalidMessage, 'malformed state vector');
        return;
      }
      member.send(encodeStep2(answer));
    });
  }

  /**
   * An awareness update from a member (SPEC SYNC-6, AWARE-1..AWARE-5): what it may announce
   * is relayed to every member, the sender included. A device announces only under client
   * IDs bound to it; an unbound one it announces is bound to it (persisted like a write's),
   * so no other device can take it later, in awareness or in a write.
   */
  receiveAwareness(member: RoomMember, update: Uint8Array): ReceiveResult {
    this.lastActive = Date.now();
    const result = this.#awareness.apply(member, update, (clientId) => this.#claim(member.device, clientId));
    if (result.kind !== 'ok') {
      this.deps.metrics.awarenessRefused.inc({ reason: result.kind === 'malformed' ? 'malformed' : result.budget });
      this.deps.log.warn({ account: this.account, device: member.device, reason: result.reason }, 'awareness refused');
      const code = result.kind === 'malformed' ? CloseCode.invalidMessage : CloseCode.messageTooLarge;
      return { kind: 'refused', code, reason: result.reason.slice(0, 120) };
    }
    for (const [reason, count] of result.dropped) this.deps.metrics.awarenessDropped.inc({ reason }, count);
    for (const clientId of result.claimed) this.#bind(clientId, member.device);
    if (result.relay !== null) this.#broadcast(encodeAwareness(result.relay), null);
    return { kind: 'ok' };
  }

  /** Whose `clientId` is, as `device` may use it in awareness ([RULE-13], AWARE-4). */
  #claim(device: DeviceId, clientId: number): ClientClaim {
    const owner = this.#bindings.get(clientId);
    if (owner === device) return 'own';
    if (owner !== undefined || clientId === this.doc.clientID) return 'foreign';
    // [BUDGET-1] A claim through awareness binds like a write: not past the client-ID budgets
    // (the entry is dropped like a foreign one, the connection stays).
    const { clientsPerDevice, clientsPerAccount } = this.#budgets;
    if ((this.#clientsOf.get(device) ?? 0) >= clientsPerDevice || this.#bindings.size >= clientsPerAccount) {
      return 'foreign';
    }
    return 'free';
  }

  /** Answers a query with the states held: encoded once per change, at most the account's budget. */
  queryAwareness(member: RoomMember): void {
    const states = this.#awareness.snapshot();
    if (states !== null) member.send(encodeAwareness(states));
  }

  /**
   * A Yjs update (sync step 2 or update) from a member: checked, applied, persisted,
   * relayed. [SYNC-13] Whatever the update holds, a refusal or a throw closes only its
   * sender (the session closes it with the returned code).
   */
  receiveUpdate(member: RoomMember, update: Uint8Array): ReceiveResult {
    this.lastActive = Date.now();
    let verdict: Verdict;
    try {
      verdict = checkUpdate({ doc: this.doc, view: this.tracker, bindings: this.#bindings }, member.device, update);
    } catch (err) {
      // checkUpdate catches everything it can throw; this is the room's own guard.
      verdict = {
        kind: 'refuse',
        code: CloseCode.invalidMessage,
        reason: 'malformed',
        detail: `cannot check: ${(err as Error).message}`,
      };
    }
    if (verdict.kind === 'refuse') {
      this.deps.metrics.updatesRefused.inc({ reason: verdict.reason });
      this.deps.log.warn(
        { account: this.account, device: member.device, reason: verdict.reason, detail: verdict.detail },
        'update refused',
      );
      return { kind: 'refused', code: verdict.code, reason: `${verdict.reason}: ${verdict.detail}` };
    }
    if (verdict.kind === 'not-yet') {
      this.deps.metrics.updatesDeferred.inc();
      this.deps.log.debug({ account: this.account, device: member.device, detail: verdict.detail }, 'update not yet');
      return { kind: 'ok' };
    }
    const budget = checkBudgets(
      {
        doc: this.doc,
        view: this.tracker,
        device: member.device,
        budgets: this.#budgets,
        deviceClients: this.#clientsOf.get(member.device) ?? 0,
        accountClients: this.#bindings.size,
      },
      verdict.update,
      verdict.newClients.length,
    );
    if (budget.kind === 'over') {
      // [BUDGET-4] Refused before anything is bound, applied or stored.
      this.deps.metrics.updatesRefused.inc({ reason: budget.reason });
      this.deps.metrics.budgetRefusals.inc({ budget: budget.budget });
      this.deps.log.warn(
        { account: this.account, device: member.device, budget: budget.budget, detail: budget.detail },
        'update over budget',
      );
      return { kind: 'refused', code: CloseCode.forbiddenWrite, reason: `${budget.reason}: ${budget.detail}` };
    }
    for (const clientId of verdict.newClients) this.#bind(clientId, member.device);
    if (!verdict.changes) return { kind: 'ok' };
    return this.#apply(member, verdict.update);
  }

  /**
   * Applies an accepted update from the structs the write rules decoded (SYNC-15: decoded
   * once). The write rules make a throw here impossible (RULE-14, proved by
   * shared/test/update-numbers.property.test.ts): Yjs applies what they accept whole. Should
   * Yjs throw all the same, the sender is closed with 4400 so it does not resend it. When the
   * throw changed nothing the room keeps serving everyone else. Only a partial apply, which
   * leaves memory ahead of the disk, drops the document and the other connections (1013) to
   * reload it.
   *
   * [SYNC-15] An update that applies whole (every struct new, every delete of something live)
   * is stored and relayed as the bytes received: the room stops listening to the document's
   * 'update' event for it, so Yjs does not encode the transaction again. Any other is stored
   * and relayed as Yjs's encoding of what it changed.
   */
  #apply(member: RoomMember, update: CheckedUpdate): ReceiveResult {
    const whole = update.whole;
    if (whole) this.doc.off('update', this.#onUpdate);
    else this.#staged = [];
    let applied: Applied;
    try {
      applied = applyChecked(this.doc, update, member);
    } catch (err) {
      this.#staged = null;
      this.doc.store.pendingStructs = null;
      this.doc.store.pendingDs = null;
      const failure = err instanceof ApplyFailure ? err : new ApplyFailure(err, true);
      const why = `applying an accepted update threw: ${failure.message}`;
      if (failure.changed) this.#poison(why, member);
      else this.deps.log.error({ account: this.account, device: member.device, why }, 'update refused after check');
      this.deps.metrics.updatesRefused.inc({ reason: 'malformed' });
      return { kind: 'refused', code: CloseCode.invalidMessage, reason: 'malformed: the update could not be applied' };
    } finally {
      if (whole) this.doc.on('update', this.#onUpdate);
    }
    const store = this.doc.store;
    if (applied.dropped || store.pendingStructs !== null || store.pendingDs !== null) {
      // The write rules let through an update Yjs could not place: never keep it pending,
      // or Yjs would apply it later to whatever arrives (docs/SPEC.md "Checking updates").
      store.pendingStructs = null;
      store.pendingDs = null;
      this.deps.log.error({ account: this.account, device: member.device }, 'accepted update left pending parts');
    }
    if (whole) {
      // The received bytes hold a part that was not applied: store what was (the structs
      // since the state before, and every delete of the document, which apply again as no-ops).
      const bytes = applied.dropped
        ? Y.encodeStateAsUpdate(this.doc, Y.encodeStateVector(applied.before as Map<number, number>))
        : ownCopy(update.bytes);
      if (applied.changed) this.#persistAndRelay(bytes, member);
    } else {
      const staged = this.#staged as Uint8Array[];
      this.#staged = null;
      for (const change of staged) this.#persistAndRelay(change, member);
    }
    this.deps.metrics.updatesApplied.inc();
    return { kind: 'ok' };
  }

  /**
   * A write of the server's own (heads, API reads) through its arrays (SPEC DOC-13), under its
   * reused client ID (BUDGET-1), persisted and relayed like any update.
   */
  serverWrite(write: (arrays: ServerArrays) => void): void {
    if (this.#poisoned) throw new Error(`account ${this.account} is being reloaded`);
    if (!this.#serverBound) {
      this.#serverBound = true;
      if (this.#bindings.get(this.doc.clientID) === undefined) this.#bind(this.doc.clientID, SERVER_DEVICE);
    }
    this.doc.transact(() => write(this.#arrays), SERVER);
  }

  /**
   * [STORE-26] Cluster mode: a server write made inside ClusterStore.exclusive, on a replica
   * that holds the whole log (the caller applied the tail). Its updates and bindings are handed
   * back for that transaction instead of the group commit, with the whole counts when nothing
   * else of this room waits for disk; they are relayed once it committed (`committed()`).
   */
  exclusiveWrite(write: (arrays: ServerArrays) => void): ExclusiveServerWrite {
    if (this.#lease !== null && this.doc.clientID !== this.#lease.clientId) {
      // Yjs drew a new ID because an applied update held structs under the leased one: another
      // node wrote under it. Never written under an ID without its lease.
      this.leaseLost();
      throw new ServerClientLeaseLost(`account ${this.account}: the document left its leased server client ID`);
    }
    // Other writes waiting for disk are in the replica but not in the log: counts that include
    // them are not the log's, so the group commit writes the counts along with them.
    const countsThere = this.#pendingWrites === 0;
    const captured = { updates: [] as Uint8Array[], bindings: [] as Array<{ clientId: number; device: DeviceId }> };
    this.#exclusive = { ...captured, countsThere };
    try {
      this.serverWrite(write);
    } finally {
      this.#exclusive = null;
    }
    const messages = captured.updates.map((update) => encodeUpdate(update));
    this.#pendingWrites += captured.updates.length;
    this.logCount += captured.updates.length;
    if (captured.updates.length > 0 && !countsThere) this.#markLogged();
    let settled = false;
    return {
      updates: captured.updates,
      bindings: captured.bindings,
      counts: countsThere ? this.tracker.counts() : null,
      committed: () => {
        if (settled) return;
        settled = true;
        this.#pendingWrites -= captured.updates.length;
        for (const message of messages) this.#broadcast(message, null);
        if (countsThere && captured.updates.length > 0) {
          this.deps.events.countsCommitted(this.account, this.tracker.counts());
        }
      },
      failed: (err) => {
        if (settled) return;
        settled = true;
        // Memory holds what the log lacks (a write, or the binding of the server's client ID).
        if (captured.updates.length + captured.bindings.length > 0) {
          this.#poison(`an exclusive write failed: ${(err as Error).message}`, null);
        }
      },
    };
  }

  /**
   * Updates another node committed to the shared log (docs/CLUSTER.md), in seq order: applied
   * without the write rules (the committing node judged them), not persisted (they are in the
   * log), their counts not written here (the committing node wrote them), relayed to every
   * member. Applying one this replica already holds changes nothing and relays nothing.
   */
  applyRemote(updates: readonly Uint8Array[]): void {
    if (this.#poisoned || updates.length === 0) return;
    this.#applyingRemote = true;
    try {
      this.doc.transact(() => {
        for (const update of updates) Y.applyUpdate(this.doc, update, REMOTE);
      }, REMOTE);
    } finally {
      this.#applyingRemote = false;
    }
  }

  /**
   * [CLUSTER-20] Cluster mode: the replica caught up with the shared log, for a device update
   * it refused: the refusal may be this replica's staleness (a marker above a head another
   * node wrote, another node's structs the device forwards). Null without a cluster.
   */
  catchUp(): Promise<void> | null {
    return this.deps.catchUp?.(this) ?? null;
  }

  #bind(clientId: number, device: DeviceId): void {
    this.#bindings.set(clientId, device);
    this.#clientsOf.set(device, (this.#clientsOf.get(device) ?? 0) + 1);
    if (this.#exclusive !== null && device === SERVER_DEVICE) this.#exclusive.bindings.push({ clientId, device });
    else this.deps.commit.addBinding(this.account, clientId, device);
  }

  /**
   * [STORE-27] In a cluster, every update committed comes with a counts entry naming the
   * watermark, changed or not on this replica: on the whole log, which it may lack, they may
   * have changed. A replica that lacked entries has its counts left out and repaired.
   */
  #markLogged(): void {
    if (this.deps.logHeldThrough !== undefined) this.#markCounts();
  }

  readonly #onUpdate = (update: Uint8Array, origin: unknown): void => {
    if (origin === LOADING) return;
    if (origin === REMOTE) {
      this.#broadcast(encodeUpdate(update), null);
      return;
    }
    if (this.#exclusive !== null) {
      this.#exclusive.updates.push(update);
      return;
    }
    if (this.#staged !== null) {
      this.#staged.push(update);
      return;
    }
    this.#persistAndRelay(update, null);
  };

  #persistAndRelay(update: Uint8Array, from: RoomMember | null): void {
    this.#pendingWrites++;
    this.logCount++;
    this.deps.commit.addUpdate(this.account, update);
    this.#markLogged();
    // One frame for every receiver, as a Buffer: ws wraps any other Uint8Array in a new Buffer per send.
    const frame = encodeUpdate(update);
    const message = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
    this.deps.commit.afterCommit(() => {
      this.#pendingWrites--;
      this.#broadcast(message, from);
    });
  }

  #broadcast(message: Uint8Array, except: RoomMember | null): void {
    for (const member of this.members) if (member !== except) member.send(message);
  }

  /**
   * Memory may no longer match the disk: drop every connection but `sender` (closed by its
   * session with 4400); the next use reloads.
   */
  #poison(why: string, sender: RoomMember | null): void {
    this.#poisoned = true;
    this.deps.log.error({ account: this.account, why }, 'account document reloads from disk');
    for (const member of [...this.members]) {
      if (member !== sender) member.close(CloseCode.tryAgainLater, 'reloading the account');
    }
  }

  /**
   * Writes a snapshot in place of the log; only when every write of this room is on disk.
   * False: not now (a write in flight, a poisoned room). True: the snapshot, taken now, is
   * handed to the store between two batches (SYNC-17) — every entry so far is in it, none
   * after it can land first — and `done` settles once the store answered (a rejection leaves
   * the log whole: it is logged here, never thrown).
   */
  compact(): { readonly done: Promise<void> } | false {
    if (this.#pendingWrites > 0 || this.#poisoned) return false;
    const snapshot = Y.encodeStateAsUpdate(this.doc);
    // Cluster mode: only the entries this snapshot holds with every one before them.
    const through = this.deps.logHeldThrough?.(this) ?? Number.MAX_SAFE_INTEGER;
    const before = this.logCount;
    this.logCount = 0;
    const done = this.deps.commit
      .between(() => this.deps.store.compact(this.account, snapshot, through))
      .catch((err: unknown) => {
        // The log is whole: the next compaction (or load) tries again.
        this.logCount += before;
        this.deps.log.error({ err, account: this.account }, 'compaction failed; the log stays');
      });
    return { done };
  }

  /** [CLUSTER-60] The lease this room writes under (cluster mode), for the exclusive transaction's fence. */
  get serverLease(): ServerClientLease | null {
    return this.#lease;
  }

  /**
   * [CLUSTER-61] Another node took this room's server client ID (its lease lapsed) or a fenced
   * write found it gone: the room must not write under it again, so it is dropped and reloads
   * with another lease.
   */
  leaseLost(): void {
    if (!this.#poisoned) this.#poison('the server client ID lease was lost', null);
  }

  destroy(): void {
    const lease = this.#lease;
    const leases = this.deps.leases;
    if (lease !== null && leases !== undefined) {
      this.#lease = null;
      // [CLUSTER-60] Released once every write of this room is durable (a fenced exclusive
      // write in flight also holds the lease's row until it commits, STORE-42).
      if (this.settled) leases.release(lease);
      else this.deps.commit.afterCommit(() => leases.release(lease));
    }
    this.tracker.destroy();
    this.doc.off('update', this.#onUpdate);
    this.doc.destroy();
  }
}
