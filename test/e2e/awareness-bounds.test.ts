/**
 * Awareness as a hostile but signed-in device would use it (a valid token for its own
 * account, raw frames): it cannot make the server hold, send or compute more than the
 * awareness budgets allow, cannot claim another device's client ID through awareness, and
 * the account's honest devices, other accounts and /healthz carry on.
 */
import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { api, badge, deviceToken } from '../helpers/api-client.js';
import { awarenessClients, awarenessFrame, httpCall, QUERY_AWARENESS, rssBytes } from '../helpers/bounds.js';
import { headOf } from '../helpers/entries.js';
import { badgeBecomes, eventually } from '../helpers/eventually.js';
import { markMuted, markRead } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { connectDevice, synced, waitFor } from '../helpers/providers.js';
import { RawClient, refusedUpgrade } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';
import { step1Frame } from '../helpers/wire.js';

/** The defaults under test (README "Limits"). */
const STATE_BYTES = 8_192;
const ACCOUNT_BYTES = 65_536;
const CLIENTS_PER_CONNECTION = 4;
const CONNECTIONS_PER_DEVICE = 8;
/**
 * What the server's resident memory may grow by while one account is attacked: the awareness
 * it holds (64 KiB), the queues of four readers that never read (4 MiB each, held until ws's
 * close timeout), and the heap's slack. Measured: 44 MiB. Unbounded, 256 states of 1 MiB and
 * their 254 MiB query answers grew it by more than 300 MiB.
 */
const RSS_BUDGET = 96 * 1024 * 1024;

/** Sends a step 1 and waits for its answer: every frame sent before it has been handled. */
async function roundTrip(client: RawClient): Promise<void> {
  const answers = () => client.messages.filter((m) => m.kind === 'step2').length;
  const before = answers();
  client.send(step1Frame(Y.encodeStateVector(client.doc)));
  await waitFor(() => answers() > before, 5000, 'the answer to a step 1');
}

/** The client IDs a raw client currently sees in awareness. */
function seen(client: RawClient): Set<number> {
  return awarenessClients(client.messages.flatMap((m) => (m.kind === 'awareness' ? [m.payload] : [])));
}

/** /healthz and another account's API call answer within 3 s (a stall would not). */
async function othersAnswerPromptly(server: ServerProcess): Promise<void> {
  const health = await httpCall(`${server.http}/healthz`);
  assert.equal(health.status, 200);
  const other = await httpCall(`${server.http}/v1/accounts/bystander/badge`, {
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  assert.equal(other.status, 200);
  assert.equal(JSON.parse(other.body).badge, 2);
}

describe('awareness bounds', () => {
  let server: ServerProcess;
  let pid: number;
  beforeAll(async () => {
    server = await startServer();
    pid = server.child.pid as number;
    await api(server, 'POST', '/v1/accounts/bystander/items', { thread: 't', count: 2 });
  });
  afterAll(stopAll);

  test('[AWARE-1] 900 KB awareness states from every connection a device may open → each closed 4413, nothing relayed or held', async () => {
    const baseline = rssBytes(pid);
    await api(server, 'POST', '/v1/accounts/big/items', { thread: 'inbox', count: 3 });
    const watch = await RawClient.synced(server, 'big', 'watch');
    const before = await metric(server, 'badgesync_awareness_refused_total', { reason: 'state_bytes' });
    const big = JSON.stringify({ pad: 'x'.repeat(900_000) });
    const mallory: RawClient[] = [];
    for (let c = 0; c < CONNECTIONS_PER_DEVICE; c++) mallory.push(await RawClient.synced(server, 'big', 'mallory'));
    for (const conn of mallory) conn.send(awarenessFrame([conn.doc.clientID, 1, big]));
    for (const conn of mallory) {
      const closed = await conn.closedWithin(5000);
      assert.equal(closed.code, 4413, `closed with ${closed.code} ${closed.reason}`);
      assert.match(closed.reason, /awareness state of \d+ bytes/);
    }
    assert.equal(
      await metric(server, 'badgesync_awareness_refused_total', { reason: 'state_bytes' }),
      before + CONNECTIONS_PER_DEVICE,
    );
    await roundTrip(watch);
    watch.send(QUERY_AWARENESS);
    await roundTrip(watch);
    assert.equal(seen(watch).size, 0, 'the watch was sent no state');
    await othersAnswerPromptly(server);
    // A stock provider joining the account syncs, and sees only the watch's silence.
    const phone = await connectDevice(server, 'big', 'phone');
    await synced(phone);
    markRead(phone.doc, 'phone', 'inbox', 3);
    await badgeBecomes(server, 'big', 0);
    assert.deepEqual([...phone.provider.awareness.getStates().keys()], [phone.doc.clientID]);
    const grown = rssBytes(pid) - baseline;
    assert.ok(grown < RSS_BUDGET, `server RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    phone.destroy();
    watch.close();
    for (const conn of mallory) conn.close();
  });

  test('[AWARE-2][AWARE-3][CONN-3][SYNC-11] a device filling awareness from every connection it may open: the server holds the account budget, answers queries within it, and a joining device syncs', async () => {
    const baseline = rssBytes(pid);
    await api(server, 'POST', '/v1/accounts/crowd/items', { thread: 'inbox', count: 4 });
    const state = JSON.stringify({ pad: 'x'.repeat(STATE_BYTES - 20) });
    const sockets: RawClient[] = [];
    for (let c = 0; c < CONNECTIONS_PER_DEVICE; c++) {
      const conn = await RawClient.synced(server, 'crowd', 'mallory');
      sockets.push(conn);
      const ids = Array.from({ length: CLIENTS_PER_CONNECTION }, (_, k) => 1_000_000 + c * 100 + k);
      conn.send(awarenessFrame(...ids.map((id): [number, number, string] => [id, 1, state])));
    }
    // A ninth connection of the same device is refused before the upgrade.
    const token = encodeURIComponent(await deviceToken(server, 'crowd', 'mallory'));
    const ninth = await refusedUpgrade(`${server.syncUrl}/crowd?token=${token}`);
    assert.equal(ninth.status, 503);
    assert.equal((ninth.body as { error: { code: string } }).error.code, 'too_many_connections');
    assert.equal(ninth.retryAfter, '10');
    for (const conn of sockets) await roundTrip(conn);
    assert.ok(
      (await metric(server, 'badgesync_awareness_dropped_total', { reason: 'account_bytes' })) >= 20,
      'states beyond 64 KiB were dropped',
    );
    // What any member is sent is at most the budget: a query answer now.
    const last = sockets.at(-1) as RawClient;
    const answersBefore = last.messages.length;
    last.send(QUERY_AWARENESS);
    await waitFor(() => last.messages.length > answersBefore, 5000, 'the query answer');
    const answer = last.messages.at(-1);
    assert.equal(answer?.kind, 'awareness');
    const size = answer?.kind === 'awareness' ? answer.payload.byteLength : 0;
    assert.ok(size > STATE_BYTES && size <= ACCOUNT_BYTES + 64 * 16, `a query answer of ${size} bytes`);

    // A 5th new client ID on a connection whose 4 were bound is over budget.
    const extra = sockets.shift() as RawClient;
    extra.send(awarenessFrame([1_999_999, 1, '{}']));
    const closed = await extra.closedWithin(5000);
    assert.equal(closed.code, 4413, `closed with ${closed.code} ${closed.reason}`);
    assert.match(closed.reason, /client IDs on one connection/);
    assert.equal(await metric(server, 'badgesync_awareness_refused_total', { reason: 'connection_clients' }), 1);

    // Queries from connections that never read: each is closed once its queue would pass 4 MiB.
    const closesBefore = await metric(server, 'badgesync_connection_closes_total', { code: '1013' });
    const readers: RawClient[] = [];
    for (let i = 0; i < 4; i++) {
      const reader = await RawClient.synced(server, 'crowd', `sloth-${i}`);
      reader.ws.pause();
      for (let q = 0; q < 900; q++) reader.send(QUERY_AWARENESS);
      readers.push(reader);
    }
    const closesAfter = async () =>
      (await metric(server, 'badgesync_connection_closes_total', { code: '1013' })) - closesBefore;
    await eventually(async () => (await closesAfter()) === 4, 10_000, 'each non-reader to be closed with 1013');
    await othersAnswerPromptly(server);

    // A stock provider joining the account syncs and writes; it is handed no more than the budget.
    const phone = await connectDevice(server, 'crowd', 'phone');
    await synced(phone);
    let held = 0;
    for (const [id, value] of phone.provider.awareness.getStates()) {
      if (id !== phone.doc.clientID) held += JSON.stringify(value).length;
    }
    assert.ok(held > 0 && held <= ACCOUNT_BYTES, `the phone holds ${held} bytes of others' awareness`);
    markRead(phone.doc, 'phone', 'inbox', 4);
    await badgeBecomes(server, 'crowd', 0);
    assert.deepEqual(phone.closes, []);
    assert.equal(headOf(phone.doc, 'inbox'), 4);

    const grown = rssBytes(pid) - baseline;
    assert.ok(grown < RSS_BUDGET, `server RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    await othersAnswerPromptly(server);
    phone.destroy();
    for (const conn of [...sockets, ...readers, extra]) conn.close();
  });

  test('[AWARE-4][RULE-13] a client ID announced in awareness is its announcer’s: another device that saw it cannot announce or write under it, and the owner’s offline reads apply on reconnect', async () => {
    await api(server, 'POST', '/v1/accounts/squat/items', { thread: 'inbox', count: 5 });
    const phone = await connectDevice(server, 'squat', 'phone');
    await synced(phone);
    const phoneId = phone.doc.clientID;
    const mallory = await RawClient.synced(server, 'squat', 'mallory');
    const watch = await RawClient.synced(server, 'squat', 'watch');
    // The stock provider announced its client ID before it wrote anything.
    await waitFor(() => seen(mallory).has(phoneId) && seen(watch).has(phoneId), 5000, 'the phone’s awareness');
    phone.provider.disconnect();
    await waitFor(() => !seen(watch).has(phoneId), 5000, 'the phone announced gone');
    markRead(phone.doc, 'phone', 'inbox', 3); // offline

    // Mallory announces herself as the phone: dropped, not relayed, and she is not closed.
    const dropped = await metric(server, 'badgesync_awareness_dropped_total', { reason: 'foreign_awareness_id' });
    mallory.send(awarenessFrame([phoneId, 50, JSON.stringify({ user: { name: 'phone' } })]));
    await roundTrip(mallory);
    await roundTrip(watch);
    watch.send(QUERY_AWARENESS);
    await roundTrip(watch);
    assert.equal(seen(watch).has(phoneId), false, 'the watch never saw the spoofed state');
    assert.equal(mallory.closeInfo, null);
    assert.equal(
      await metric(server, 'badgesync_awareness_dropped_total', { reason: 'foreign_awareness_id' }),
      dropped + 1,
    );

    // Mallory writes under the phone's client ID: refused.
    mallory.doc.clientID = phoneId;
    mallory.write((doc) => markMuted(doc, 'mallory', 'inbox', true));
    const closed = await mallory.closedWithin(5000);
    assert.equal(closed.code, 4403, `closed with ${closed.code} ${closed.reason}`);
    assert.match(closed.reason, /^foreign_client_id:/);

    // The phone comes back: its offline read applies, and it keeps writing.
    phone.provider.connect();
    await badgeBecomes(server, 'squat', 2);
    markRead(phone.doc, 'phone', 'inbox', 5);
    await badgeBecomes(server, 'squat', 0);
    assert.deepEqual(phone.closes, []);
    assert.deepEqual((await badge(server, 'squat')).muted, [], 'nothing of mallory’s write was applied');
    await othersAnswerPromptly(server);
    watch.close();
    mallory.close();
    phone.destroy();
  });

  test('[AWARE-4] the binding made by awareness survives a restart', async () => {
    await api(server, 'POST', '/v1/accounts/bound/items', { thread: 'inbox', count: 1 });
    const phone = await RawClient.synced(server, 'bound', 'phone');
    phone.send(awarenessFrame([phone.doc.clientID, 1, '{}']));
    await roundTrip(phone);
    const phoneId = phone.doc.clientID;
    phone.close();
    assert.equal(await server.stop(), 0);
    server = await server.restart();
    pid = server.child.pid as number;
    const mallory = await RawClient.synced(server, 'bound', 'mallory');
    mallory.doc.clientID = phoneId;
    mallory.write((doc) => markMuted(doc, 'mallory', 'inbox', true));
    const closed = await mallory.closedWithin(5000);
    assert.equal(closed.code, 4403, `closed with ${closed.code} ${closed.reason}`);
    mallory.close();
  });
});
