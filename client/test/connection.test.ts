import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { Backoff } from '../src/backoff.js';
import { Connection } from '../src/connection.js';
import type { AccountStatus, CloseInfo } from '../src/status.js';
import { SILENT_LINK } from '../src/status.js';
import { type Credentials, TokenSource } from '../src/token-source.js';
import { FakeClock } from './helpers/fake-clock.js';
import { FakeNetwork } from './helpers/fake-network.js';
import { FakeSocket } from './helpers/fake-socket.js';

const HEARTBEAT_MS = 1_000;
const STABLE_MS = 5_000;

/** Lets promise callbacks (the token fetch) run. */
const flush = () => new Promise((resolve) => setImmediate(resolve));

interface Rig {
  readonly connection: Connection;
  readonly doc: Y.Doc;
  readonly clock: FakeClock;
  readonly network: FakeNetwork;
  readonly statuses: AccountStatus[];
  readonly tokenCalls: number[];
  synced: number;
  /** Closes 4410 the connection handed to onReplicaOutdated. */
  readonly outdated: CloseInfo[];
}

async function rig(
  options: {
    credentials?: Credentials;
    online?: boolean;
    onReplicaOutdated?: (close: CloseInfo) => Promise<void>;
  } = {},
): Promise<Rig> {
  const clock = new FakeClock();
  const doc = new Y.Doc();
  const network = new FakeNetwork(options.online ?? true);
  const tokenCalls: number[] = [];
  const credentials = options.credentials ?? {
    getToken: () => {
      tokenCalls.push(clock.now());
      return `token-${tokenCalls.length}`;
    },
  };
  const state: Rig = {
    doc,
    clock,
    network,
    statuses: [],
    tokenCalls,
    synced: 0,
    outdated: [],
    connection: null as unknown as Connection,
  };
  const connection = new Connection({
    doc,
    url: (token) => `ws://server/v1/sync/acct?token=${token}`,
    tokens: new TokenSource(credentials),
    WebSocket: FakeSocket,
    // random 0.5: each delay is half its ceiling, so the test can name it.
    backoff: new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0.5 }),
    network,
    clock,
    heartbeatMs: HEARTBEAT_MS,
    stableMs: STABLE_MS,
    onStatus: (status) => state.statuses.push(status),
    onSynced: () => {
      state.synced++;
    },
    onReplicaOutdated: async (close) => {
      state.outdated.push(close);
      await options.onReplicaOutdated?.(close);
    },
  });
  (state as { connection: Connection }).connection = connection;
  connection.start();
  await flush();
  return state;
}

/** Opens the last socket and plays a server with an empty document through the handshake. */
function handshake(socket: FakeSocket = FakeSocket.last): void {
  socket.open();
  socket.serverStep1(Y.encodeStateVector(new Y.Doc()));
  socket.serverStep2(Y.encodeStateAsUpdate(new Y.Doc()));
}

describe('Connection', () => {
  beforeEach(() => FakeSocket.reset());

  test('[SDK-3] handshake: step 1 on open, step 2 answered, synced on the server’s step 2', async () => {
    const r = await rig();
    const socket = FakeSocket.last;
    assert.equal(socket.url, 'ws://server/v1/sync/acct?token=token-1');
    assert.equal(socket.binaryType, 'arraybuffer');
    assert.deepEqual(r.statuses, [{ state: 'connecting' }]);
    socket.open();
    assert.deepEqual(
      socket.sentMessages().map((m) => m.type),
      ['step1'],
    );
    r.doc.getMap('mutes').set('early', true);
    assert.equal(socket.sent.length, 1, 'a local update before our step 2 waits for it');
    socket.serverStep1(Y.encodeStateVector(new Y.Doc()));
    const step2 = socket.sentMessages()[1];
    assert.equal(step2?.type, 'step2');
    const server = new Y.Doc();
    Y.applyUpdate(server, (step2 as { update: Uint8Array }).update);
    assert.equal(server.getMap('mutes').get('early'), true, 'step 2 carries the early update');
    r.doc.getMap('mutes').set('later', true);
    assert.equal(socket.sentMessages()[2]?.type, 'update', 'after our step 2, updates go as they happen');
    assert.equal(r.synced, 0);
    const heads = new Y.Doc();
    heads.getMap('heads').set('inbox', 3);
    socket.serverStep2(Y.encodeStateAsUpdate(heads));
    assert.equal(r.doc.getMap('heads').get('inbox'), 3);
    assert.equal(r.synced, 1);
    assert.deepEqual(r.statuses.at(-1), { state: 'synced' });
    socket.serverStep2(Y.encodeStateAsUpdate(heads));
    assert.equal(r.synced, 1, 'a later step 2 (a probe’s answer) is not a new sync');
    const before = socket.sent.length;
    socket.serverUpdate(Y.encodeStateAsUpdate(heads));
    assert.equal(socket.sent.length, before, 'what the server sent is not echoed');
  });

  for (const code of [4400, 4403, 4413]) {
    test(`[SDK-3] close ${code} stops with an error and never reconnects`, async () => {
      const r = await rig();
      handshake();
      FakeSocket.last.serverClose(code, 'why');
      assert.deepEqual(r.statuses.at(-1), { state: 'error', code, reason: 'why' });
      r.clock.advance(120_000);
      await flush();
      assert.equal(FakeSocket.all.length, 1);
      assert.deepEqual(r.clock.pending(), []);
    });
  }

  test('[SDK-11] close 4410: no reconnect until the replica is reset, then at once, on the new document', async () => {
    let finish: () => void = () => {};
    const fresh = new Y.Doc();
    const r = await rig({
      onReplicaOutdated: () =>
        new Promise<void>((resolve) => {
          finish = () => {
            r.connection.useDoc(fresh);
            resolve();
          };
        }),
    });
    handshake();
    r.doc.getMap('mutes').set('old', true);
    FakeSocket.last.serverClose(4410, 'v1_document');
    assert.deepEqual(r.outdated, [{ code: 4410, reason: 'v1_document' }]);
    assert.deepEqual(r.statuses.at(-1), {
      state: 'offline',
      retryInMs: null,
      lastClose: { code: 4410, reason: 'v1_document' },
    });
    r.network.set(false);
    r.network.set(true);
    r.connection.retryNow();
    r.clock.advance(60_000);
    await flush();
    assert.equal(FakeSocket.all.length, 1, 'no connection while the replica is being reset');
    finish();
    await flush();
    assert.equal(FakeSocket.all.length, 2, 'reconnected at once');
    const socket = FakeSocket.last;
    socket.open();
    assert.deepEqual(socket.sentMessages()[0], {
      type: 'step1',
      stateVector: Y.encodeStateVector(fresh),
    });
    socket.serverStep1(Y.encodeStateVector(new Y.Doc()));
    r.doc.getMap('mutes').set('old-again', true);
    fresh.getMap('mutes').set('new', true);
    const types = socket.sentMessages().map((m) => m.type);
    assert.deepEqual(types, ['step1', 'step2', 'update'], 'only the new document is followed');
  });

  test('[SDK-11] close 4410 whose reset fails stops with an error', async () => {
    const r = await rig({ onReplicaOutdated: () => Promise.reject(new Error('disk gone')) });
    handshake();
    FakeSocket.last.serverClose(4410, 'v1_document');
    await flush();
    const status = r.statuses.at(-1);
    assert.ok(status?.state === 'error' && status.code === 4410, JSON.stringify(status));
    assert.match(status.reason, /disk gone/);
    r.clock.advance(60_000);
    await flush();
    assert.equal(FakeSocket.all.length, 1);
  });

  test('[SDK-3] close 4401 fetches a new token and reconnects', async () => {
    const r = await rig();
    handshake();
    FakeSocket.last.serverClose(4401, 'token expired');
    const status = r.statuses.at(-1);
    assert.equal(status?.state, 'offline');
    r.clock.advance(r.clock.pending()[0] ?? 0);
    await flush();
    assert.equal(r.tokenCalls.length, 2);
    assert.equal(FakeSocket.last.url, 'ws://server/v1/sync/acct?token=token-2');
  });

  test('[SDK-3] close 4401 with a fixed token and no getToken is an error', async () => {
    const r = await rig({ credentials: { token: 'fixed' } });
    handshake();
    FakeSocket.last.serverClose(4401, 'token expired');
    assert.deepEqual(r.statuses.at(-1), { state: 'error', code: 4401, reason: 'token expired' });
  });

  test('[SDK-3] 1001, 1013, 1006: reconnect with doubling, capped, jittered delays', async () => {
    const r = await rig();
    const delays: number[] = [];
    for (const code of [1001, 1013, 1006, 1001, 1006, 1013, 1001]) {
      FakeSocket.last.open();
      FakeSocket.last.serverClose(code);
      const status = r.statuses.at(-1);
      assert.ok(status?.state === 'offline' && status.lastClose?.code === code);
      delays.push(status.retryInMs ?? -1);
      const sockets = FakeSocket.all.length;
      r.clock.advance(status.retryInMs ?? 0);
      await flush();
      assert.equal(FakeSocket.all.length, sockets + 1, 'a new attempt once the delay passed');
    }
    assert.deepEqual(delays, [50, 100, 200, 400, 500, 500, 500]);
  });

  test('[SDK-3] a connection that stayed synced resets the backoff; a short one does not', async () => {
    const r = await rig();
    for (let i = 0; i < 3; i++) {
      handshake();
      FakeSocket.last.serverClose(1013);
      r.clock.advance((r.statuses.at(-1) as { retryInMs: number }).retryInMs);
      await flush();
    }
    handshake();
    FakeSocket.last.serverClose(1013);
    assert.equal((r.statuses.at(-1) as { retryInMs: number }).retryInMs, 400, 'short connections keep doubling');
    r.clock.advance(400);
    await flush();
    handshake();
    for (let t = 0; t < STABLE_MS; t += HEARTBEAT_MS / 2) {
      r.clock.advance(HEARTBEAT_MS / 2);
      FakeSocket.last.serverStep2(Y.encodeStateAsUpdate(new Y.Doc()));
    }
    FakeSocket.last.serverClose(1001);
    assert.equal((r.statuses.at(-1) as { retryInMs: number }).retryInMs, 50, 'back to the first delay');
  });

  test('[SDK-5] silence: a probe after one interval, dropped after two, then a reconnect', async () => {
    const r = await rig();
    handshake();
    const socket = FakeSocket.last;
    const sent = socket.sent.length;
    r.clock.advance(HEARTBEAT_MS);
    assert.equal(socket.sentMessages()[sent]?.type, 'step1', 'a probe');
    socket.serverStep2(Y.encodeStateAsUpdate(new Y.Doc()));
    r.clock.advance(2 * HEARTBEAT_MS - 1);
    assert.equal(socket.terminated, false, 'an answer resets the silence');
    r.clock.advance(1);
    assert.equal(socket.terminated, true);
    const status = r.statuses.at(-1);
    assert.ok(status?.state === 'offline' && status.lastClose?.code === SILENT_LINK);
    r.clock.advance(status.retryInMs ?? 0);
    await flush();
    assert.equal(FakeSocket.all.length, 2);
  });

  test('[SDK-5] a socket that never opens is given up after two intervals', async () => {
    const r = await rig();
    r.clock.advance(2 * HEARTBEAT_MS);
    assert.equal(FakeSocket.last.terminated, true);
    assert.equal(r.statuses.at(-1)?.state, 'offline');
  });

  test('[SDK-5] the platform going offline drops the socket at once; online reconnects at once', async () => {
    const r = await rig();
    handshake();
    r.network.set(false);
    assert.equal(FakeSocket.last.terminated, true);
    assert.deepEqual(r.statuses.at(-1), { state: 'offline', retryInMs: null, lastClose: null });
    r.clock.advance(600_000);
    await flush();
    assert.equal(FakeSocket.all.length, 1, 'no attempts while offline');
    r.network.set(true);
    await flush();
    assert.equal(FakeSocket.all.length, 2);
  });

  test('[SDK-5] starting offline waits for the network', async () => {
    const r = await rig({ online: false });
    assert.equal(FakeSocket.all.length, 0);
    assert.equal(r.tokenCalls.length, 0);
    r.network.set(true);
    await flush();
    assert.equal(FakeSocket.all.length, 1);
  });

  test('[SDK-3] an attempt that fails before opening (maybe a 401) gets a new token next time', async () => {
    const r = await rig();
    FakeSocket.last.fail();
    r.clock.advance(r.clock.pending()[0] ?? 0);
    await flush();
    assert.equal(r.tokenCalls.length, 2);
    handshake();
    FakeSocket.last.serverClose(1001);
    r.clock.advance(r.clock.pending()[0] ?? 0);
    await flush();
    assert.equal(r.tokenCalls.length, 2, 'a connection that opened keeps its token');
  });

  test('[SDK-3] a getToken that throws is retried with backoff', async () => {
    let calls = 0;
    const r = await rig({
      credentials: {
        getToken: async () => {
          calls++;
          if (calls === 1) throw new Error('backend down');
          return 'ok';
        },
      },
    });
    const status = r.statuses.at(-1);
    assert.ok(status?.state === 'offline' && /backend down/.test(status.lastClose?.reason ?? ''));
    r.clock.advance(status.retryInMs ?? 0);
    await flush();
    assert.equal(FakeSocket.last.url, 'ws://server/v1/sync/acct?token=ok');
  });

  test('a garbled frame from the server drops the socket and reconnects', async () => {
    const r = await rig();
    handshake();
    // Sync message, sub-type 9: not part of the protocol.
    FakeSocket.last.serverRaw(new Uint8Array([0, 9, 0]));
    assert.equal(FakeSocket.last.terminated, true);
    const status = r.statuses.at(-1);
    assert.ok(status?.state === 'offline' && /garbled/.test(status.lastClose?.reason ?? ''));
  });

  test('close() leaves at once and cancels every timer', async () => {
    const r = await rig();
    handshake();
    r.connection.close();
    assert.equal(FakeSocket.last.terminated, true);
    assert.deepEqual(r.clock.pending(), []);
    r.doc.getMap('mutes').set('x', true);
    assert.equal(FakeSocket.last.sent.length, 2, 'nothing sent after close');
  });
});
