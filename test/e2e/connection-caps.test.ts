/**
 * Connection caps against a server whose open-file limit is 300 (`ulimit -n`): idle TCP
 * sockets — from one address, or from many — never starve /healthz, the backend API or a
 * device that joins; sockets beyond the caps are answered 503 with Retry-After at once.
 */
import assert from 'node:assert/strict';
import { afterAll, describe, test } from 'vitest';
import { deviceToken } from '../helpers/api-client.js';
import { httpCall, type IdleSocket, idleSockets, rssBytes } from '../helpers/bounds.js';
import { headOf } from '../helpers/entries.js';
import { sleep } from '../helpers/eventually.js';
import { sample } from '../helpers/metrics.js';
import { waitFor } from '../helpers/providers.js';
import { RawClient, refusedUpgrade } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

/** The open-file limit of these servers; their socket cap becomes 300 − 64 = 236. */
const FILE_LIMIT = 300;
const SOCKET_CAP = FILE_LIMIT - 64;
const HEALTH_RESERVE = 16;
/** Restricted sockets are closed 2 s after connecting; wait a little longer. */
const RESTRICTED_GONE_MS = 2_500;
/** The server's memory may not grow more than this while idle sockets pile up. */
const RSS_BUDGET = 32 * 1024 * 1024;

function refusedWith503(socket: IdleSocket): boolean {
  return /^HTTP\/1\.1 503 /.test(socket.received) && /\r\nRetry-After: 5\r\n/.test(socket.received);
}

/** Sockets and upgrades refused by a cap, scraped from another address without keep-alive. */
async function refusedCount(server: ServerProcess): Promise<number> {
  const answer = await httpCall(`${server.http}/metrics`, { localAddress: '127.0.0.3' });
  return sample(answer.body, 'badgesync_connections_refused_total');
}

function closeAll(sockets: IdleSocket[]): void {
  for (const s of sockets) s.socket.destroy();
}

/** /healthz, another account's API call and a device joining, from `address`, all within 3 s. */
async function serverServes(server: ServerProcess, address: string, account: string): Promise<void> {
  const health = await httpCall(`${server.http}/healthz`, { localAddress: address });
  assert.equal(health.status, 200, `healthz ${health.status} ${health.body}`);
  const device = await RawClient.synced(server, account, `joiner-${address}`, { localAddress: address });
  const head = headOf(device.doc, 'inbox');
  const posted = await httpCall(`${server.http}/v1/accounts/${account}/items`, {
    method: 'POST',
    localAddress: address,
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ thread: 'inbox' }),
  });
  assert.equal(posted.status, 200, `POST items ${posted.status} ${posted.body}`);
  await waitFor(() => headOf(device.doc, 'inbox') === head + 1, 5000, 'the joiner to get the item');
  device.close();
}

/**
 * `serverServes`, tried again while the server has not yet seen the closed idle sockets go (their
 * closes reach it some time after the test sees them, longer on a loaded machine).
 */
async function servesOnceClosed(server: ServerProcess, address: string, account: string): Promise<void> {
  const until = Date.now() + 5_000;
  for (;;) {
    try {
      return await serverServes(server, address, account);
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(50);
    }
  }
}

/** Opens a sync connection, retrying while the server has not yet seen a closed one go. */
async function eventuallyConnects(server: ServerProcess, account: string, device: string): Promise<RawClient> {
  const until = Date.now() + 5_000;
  for (;;) {
    try {
      return await RawClient.synced(server, account, device);
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(50);
    }
  }
}

describe('connection caps', () => {
  afterAll(stopAll);

  test('[CONN-2] 320 idle sockets from one address under a 300-file limit: other addresses are served at once, the address itself still gets /healthz, extra sockets 503 + Retry-After', async () => {
    const server = await startServer({
      fileLimit: FILE_LIMIT,
      env: { BADGESYNC_MAX_PREAUTH_SOCKETS_PER_ADDRESS: '100' },
    });
    // Warm up first: the commit thread boots (and its heap grows) until the first write is
    // durable, which would count as growth the idle sockets did not cause.
    await serverServes(server, '127.0.0.4', 'warm-up');
    const baseline = rssBytes(server.child.pid as number);
    const refusedBefore = await refusedCount(server);
    const idle = await idleSockets(server.port, 320, '127.0.0.1');
    // Sockets past the cap in all are answered at once; past the address's 100, within 2 s.
    await waitFor(
      () => idle.filter((s) => s.closed).length >= 320 - 100,
      10_000,
      'the sockets beyond the caps to close',
    );
    assert.ok(idle.filter(refusedWith503).length >= 320 - SOCKET_CAP, 'those beyond the cap in all were told 503');
    await sleep(RESTRICTED_GONE_MS);
    assert.equal(idle.filter((s) => !s.closed).length, 100, 'the address keeps exactly its 100');
    await serverServes(server, '127.0.0.2', 'other');
    // The same address may still ask /healthz, and nothing else.
    const health = await httpCall(`${server.http}/healthz`, { localAddress: '127.0.0.1' });
    assert.equal(health.status, 200);
    const upgrade = await refusedUpgrade(`${server.syncUrl}/other?token=x`, {}, '127.0.0.1');
    assert.equal(upgrade.status, 503);
    assert.equal((upgrade.body as { error: { code: string } }).error.code, 'too_many_connections');
    assert.equal(upgrade.retryAfter, '5');
    assert.ok((await refusedCount(server)) > refusedBefore);
    const grown = rssBytes(server.child.pid as number) - baseline;
    assert.ok(grown < RSS_BUDGET, `server RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    // Once the idle sockets go, the address is served again.
    closeAll(idle);
    await waitFor(() => idle.every((s) => s.closed), 5000, 'the idle sockets to close');
    await servesOnceClosed(server, '127.0.0.1', 'other');
  });

  test('[CONN-1] idle sockets from many addresses fill the cap in all: /healthz still answers from the reserve, everything else beyond the cap gets 503 + Retry-After, never a hang', async () => {
    const server = await startServer({ fileLimit: FILE_LIMIT });
    // Warm up first: the commit thread boots (and its heap grows) until the first write is
    // durable, which would count as growth the idle sockets did not cause.
    await serverServes(server, '127.0.0.4', 'warm-up');
    const baseline = rssBytes(server.child.pid as number);
    const idle: IdleSocket[] = [];
    for (let i = 0; i < 4; i++) idle.push(...(await idleSockets(server.port, 80, `127.0.1.${i + 1}`)));
    // A socket is connected before the server has seen it, and its restricted idle time starts
    // only then (on a loaded machine, well after the connect): waited for, then a restricted
    // socket's idle time more in which nothing else may close.
    await waitFor(
      () => idle.filter((s) => !s.closed).length <= SOCKET_CAP - HEALTH_RESERVE,
      10_000,
      'the sockets beyond the cap and in the reserve to close',
    );
    await sleep(RESTRICTED_GONE_MS);
    const open = idle.filter((s) => !s.closed).length;
    assert.equal(open, SOCKET_CAP - HEALTH_RESERVE, 'the cap in all minus the health reserve stay open');
    assert.ok(idle.filter(refusedWith503).length >= 320 - SOCKET_CAP);
    for (let i = 0; i < 5; i++) {
      const health = await httpCall(`${server.http}/healthz`, { localAddress: '127.0.2.1' });
      assert.equal(health.status, 200, `health check ${i}`);
    }
    const api503 = await httpCall(`${server.http}/v1/accounts/a/badge`, {
      localAddress: '127.0.2.1',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(api503.status, 503);
    assert.equal(JSON.parse(api503.body).error.code, 'too_many_connections');
    assert.equal(api503.headers['retry-after'], '5');
    const grown = rssBytes(server.child.pid as number) - baseline;
    assert.ok(grown < RSS_BUDGET, `server RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
    closeAll(idle);
    await waitFor(() => idle.every((s) => s.closed), 5000, 'the idle sockets to close');
    await servesOnceClosed(server, '127.0.2.1', 'after');
  });

  test('[CONN-3] a device at its 8 connections to an account: the 9th gets 503 + Retry-After: 10; its other accounts, other devices and /healthz are served', async () => {
    const server = await startServer();
    const tabs: RawClient[] = [];
    for (let i = 0; i < 8; i++) tabs.push(await RawClient.synced(server, 'tabs', 'browser'));
    const token = encodeURIComponent(await deviceToken(server, 'tabs', 'browser'));
    const ninth = await refusedUpgrade(`${server.syncUrl}/tabs?token=${token}`);
    assert.equal(ninth.status, 503);
    assert.equal((ninth.body as { error: { code: string } }).error.code, 'too_many_connections');
    assert.equal(ninth.retryAfter, '10');
    assert.equal(await refusedCount(server), 1);
    const health = await httpCall(`${server.http}/healthz`);
    assert.equal(health.status, 200);
    const elsewhere = await RawClient.synced(server, 'other-account', 'browser');
    const phone = await RawClient.synced(server, 'tabs', 'phone');
    for (const tab of tabs) assert.equal(tab.closeInfo, null, 'the open tabs stay');
    // One tab closes: the device may connect again.
    (tabs.pop() as RawClient).close();
    const again = await eventuallyConnects(server, 'tabs', 'browser');
    for (const c of [...tabs, elsewhere, phone, again]) c.close();
  });

  test('[CONN-2] authenticated sync connections do not count against their address: a NAT of phones connects past the pre-auth cap', async () => {
    const server = await startServer({ env: { BADGESYNC_MAX_PREAUTH_SOCKETS_PER_ADDRESS: '5' } });
    const phones: RawClient[] = [];
    for (let i = 0; i < 12; i++) phones.push(await RawClient.synced(server, `nat-${i}`, 'phone'));
    const health = await httpCall(`${server.http}/healthz`);
    assert.equal(health.status, 200);
    for (const phone of phones) {
      assert.equal(phone.closeInfo, null);
      phone.close();
    }
  });
});
