/**
 * The server client ID leases of the PostgreSQL store (SPEC STORE-40..STORE-42, docs/CLUSTER.md
 * "Server client IDs"): two stores (two pools, as two nodes) on one fresh database.
 */
import assert from 'node:assert/strict';
import { SERVER_DEVICE } from '@badgesync/shared';
import { beforeEach, describe, test } from 'vitest';
import { PgStore, ServerClientLeaseLost } from '../src/store/index.js';
import { useEmptiedDatabase } from './pg-database.js';
import { A, batch, D1 } from './store-fixtures.js';

let one: PgStore;
let two: PgStore;
const fixture = useEmptiedDatabase();
beforeEach(async () => {
  [one, two] = await Promise.all([PgStore.open({ url: fixture.db.url }), PgStore.open({ url: fixture.db.url })]);
  return async () => {
    await Promise.all([one.close(), two.close()]);
  };
});

const LONG = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('PgStore: server client leases', () => {
  test('[STORE-40] a take draws a new ID only when none is free; a released ID is the next take of any node', async () => {
    const first = await one.takeServerClient(A, 'n1', LONG, [101, 102]);
    assert.equal(first.clientId, 101);
    // Held by n1: n2 gets a new one, the first draw nobody holds.
    const second = await two.takeServerClient(A, 'n2', LONG, [101, 201]);
    assert.equal(second.clientId, 201);
    assert.notEqual(second.lease, first.lease);
    assert.equal(await one.releaseServerClient(first), true);
    // Free now: reused, the draws untouched.
    const third = await two.takeServerClient(A, 'n2', LONG, [301]);
    assert.equal(third.clientId, 101);
    const rows = await fixture.own.query('SELECT client_id FROM server_clients ORDER BY client_id');
    assert.deepEqual(
      rows.rows.map((row: { client_id: string }) => Number(row.client_id)),
      [101, 201],
    );
    // A release of a lease no longer the holder's changes nothing.
    assert.equal(await one.releaseServerClient(first), false);
    const fourth = await one.takeServerClient(A, 'n1', LONG, [401]);
    assert.equal(fourth.clientId, 401);
  });

  test('[STORE-40] two nodes taking at once never hold one ID', async () => {
    let next = 1000;
    const takes = [];
    for (let i = 0; i < 12; i++) {
      const draws = [next++, next++, next++];
      takes.push((i % 2 === 0 ? one : two).takeServerClient(A, i % 2 === 0 ? 'n1' : 'n2', LONG, draws));
    }
    const leases = await Promise.all(takes);
    assert.equal(new Set(leases.map((lease) => lease.clientId)).size, leases.length);
    // Half of them released: the next takes, on both nodes at once, reuse exactly those.
    const freed = leases.filter((_, i) => i % 3 === 0);
    await Promise.all(freed.map((lease) => one.releaseServerClient(lease)));
    const again = await Promise.all(freed.map((_, i) => (i % 2 === 0 ? one : two).takeServerClient(A, 'n', LONG, [])));
    assert.deepEqual(
      again.map((lease) => lease.clientId).sort((a, b) => a - b),
      freed.map((lease) => lease.clientId).sort((a, b) => a - b),
    );
  });

  test('[STORE-40] an ID a device is bound to is never taken, nor drawn', async () => {
    const lease = await one.takeServerClient(A, 'n1', LONG, [7]);
    await one.releaseServerClient(lease);
    await one.commit(
      batch({
        bindings: [
          { account: A, clientId: 7, device: D1 },
          { account: A, clientId: 8, device: D1 },
        ],
      }),
    );
    const next = await two.takeServerClient(A, 'n2', LONG, [8, 9]);
    assert.equal(next.clientId, 9);
    // Bound to @server (the server wrote under it): taken again.
    await one.commit(batch({ bindings: [{ account: A, clientId: 9, device: SERVER_DEVICE }] }));
    await two.releaseServerClient(next);
    assert.equal((await one.takeServerClient(A, 'n1', LONG, [10])).clientId, 9);
  });

  test('[STORE-41] a renewed lease holds past its first period; an unrenewed one lapses and another node takes the ID', async () => {
    const kept = await one.takeServerClient(A, 'n1', 400, [11]);
    const lapsing = await one.takeServerClient(A, 'n1', 400, [12]);
    assert.deepEqual(await one.renewServerClients('n1', [kept.lease], LONG), new Set([kept.lease]));
    await sleep(600);
    // Only the lapsed one is free.
    const taken = await two.takeServerClient(A, 'n2', LONG, [13]);
    assert.equal(taken.clientId, 12);
    // n1's renewal no longer holds the one n2 took, nor can it release it.
    assert.deepEqual(await one.renewServerClients('n1', [kept.lease, lapsing.lease], LONG), new Set([kept.lease]));
    assert.equal(await one.releaseServerClient(lapsing), false);
    // Another node's name does not renew it either.
    assert.deepEqual(await two.renewServerClients('n2', [kept.lease], LONG), new Set());
    // A lapsed lease nobody took is still its holder's to renew.
    const idle = await one.takeServerClient(A, 'n1', 200, [14]);
    await sleep(400);
    assert.deepEqual(await one.renewServerClients('n1', [idle.lease], LONG), new Set([idle.lease]));
    assert.equal((await two.takeServerClient(A, 'n2', LONG, [15])).clientId, 15);
  });

  test('[STORE-42] an exclusive write fenced by a lease another node took writes nothing and rejects with ServerClientLeaseLost', async () => {
    const old = await one.takeServerClient(A, 'n1', 200, [21]);
    const write = (update: number) => () => ({
      batch: batch({
        updates: [{ account: A, update: new Uint8Array([update]) }],
        bindings: [{ account: A, clientId: 21, device: SERVER_DEVICE }],
      }),
      answer: update,
    });
    const first = await one.exclusive(A, { heldThrough: () => 0, serverClient: old }, write(1));
    assert.equal(first.kind, 'written');
    await sleep(400);
    const taken = await two.takeServerClient(A, 'n2', LONG, [22]);
    assert.equal(taken.clientId, 21);
    let ran = false;
    await assert.rejects(
      one.exclusive(A, { heldThrough: () => 1, serverClient: old }, () => {
        ran = true;
        return write(2)();
      }),
      ServerClientLeaseLost,
    );
    assert.equal(ran, false);
    assert.deepEqual(await one.logSeqs([A]), new Map([[A, 1]]));
    const second = await two.exclusive(A, { heldThrough: () => 1, serverClient: taken }, write(3));
    assert.equal(second.kind, 'written');
    assert.deepEqual(await two.logSeqs([A]), new Map([[A, 2]]));
    // Released: the fence fails too.
    await two.releaseServerClient(taken);
    await assert.rejects(
      two.exclusive(A, { heldThrough: () => 2, serverClient: taken }, write(4)),
      ServerClientLeaseLost,
    );
  });
});
