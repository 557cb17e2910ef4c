/**
 * How BadgesyncServer wires its parts: push is built before the rooms and the API, so every
 * room event and every registration reaches it from the first one on, and push cannot ask
 * the rooms anything while it is being built.
 */
import assert from 'node:assert/strict';
import type { AccountId, DeviceId } from '@badgesync/shared';
import { afterEach, describe, test } from 'vitest';
import WebSocket from 'ws';
import { mintDeviceToken } from '../src/auth/device-token.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import type { PushContext, PushFactory, PushHooks } from '../src/push/ports.js';
import { BadgesyncServer } from '../src/server.js';
import { asyncStore } from '../src/store/async-store.js';
import { MemoryStore } from '../src/store/memory-store.js';

const ANN = 'ann' as AccountId;
const PHONE = 'phone' as DeviceId;

/** A push that records what it hears, and whether the device was online when it heard it. */
function recordingPush(heard: string[]): { factory: PushFactory; ctx: () => PushContext } {
  let context: PushContext | null = null;
  const factory: PushFactory = (ctx) => {
    context = ctx;
    const hooks: PushHooks = {
      countsCommitted: (a, c) => heard.push(`counts ${a} ${c.badge}`),
      deviceOnline: (a, d) => heard.push(`online ${a} ${d} ${ctx.isOnline(a, d)}`),
      deviceOffline: (a, d) => heard.push(`offline ${a} ${d} ${ctx.isOnline(a, d)}`),
      deviceRegistered: (a, d, fresh) => heard.push(`registered ${a} ${d} ${fresh}`),
      deviceSignedOut: (a, d) => heard.push(`signed out ${a} ${d}`),
      start: () => heard.push('start'),
      close: async () => {
        heard.push('close');
      },
    };
    return hooks;
  };
  return {
    factory,
    ctx: () => {
      if (context === null) throw new Error('push was never built');
      return context;
    },
  };
}

function serverWith(push: PushFactory): Promise<BadgesyncServer> {
  const config = loadConfig(['--port', '0', '--host', '127.0.0.1', '--api-key', 'k'.repeat(32)], {});
  const store = new MemoryStore();
  return BadgesyncServer.create({
    config,
    store: asyncStore(store),
    log: createLogger('silent'),
    push,
  });
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('server wiring', () => {
  let server: BadgesyncServer | null = null;
  afterEach(async () => {
    await server?.stop();
    server = null;
  });

  test('push that asks whether a device is online while being built gets a wiring error, not an answer', async () => {
    const store = new MemoryStore();
    const config = loadConfig(['--port', '0', '--api-key', 'k'.repeat(32)], {});
    const eager: PushFactory = (ctx) => {
      ctx.isOnline(ANN, PHONE);
      throw new Error('unreachable: isOnline answered before the rooms existed');
    };
    await assert.rejects(
      BadgesyncServer.create({
        config,
        store: asyncStore(store),
        log: createLogger('silent'),
        push: eager,
      }),
      /before the rooms were built/,
    );
    store.close();
  });

  test('room events and registrations reach push, which sees the rooms’ presence', async () => {
    const heard: string[] = [];
    const push = recordingPush(heard);
    server = await serverWith(push.factory);
    const port = await server.listen();
    assert.deepEqual(heard, ['start']);
    assert.equal(push.ctx().isOnline(ANN, PHONE), false);

    const http = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${'k'.repeat(32)}`, 'content-type': 'application/json' };
    const put = await fetch(`${http}/v1/accounts/ann/devices/phone`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ apnsToken: 'ab'.repeat(16) }),
    });
    assert.equal(put.status, 200, await put.text());
    const posted = await fetch(`${http}/v1/accounts/ann/items`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ thread: 'inbox', count: 3 }),
    });
    assert.equal(posted.status, 200, await posted.text());
    await waitFor(() => heard.includes('counts ann 3'), 'counts to reach push');

    const token = await mintDeviceToken(server.secrets.deviceSecret, ANN, PHONE, 600);
    const socket = new WebSocket(`ws://127.0.0.1:${port}/v1/sync/ann?token=${token}`);
    socket.on('error', () => {});
    await waitFor(() => heard.some((line) => line.startsWith('online')), 'the device to come online');
    assert.equal(push.ctx().isOnline(ANN, PHONE), true);
    socket.close();
    await waitFor(() => heard.some((line) => line.startsWith('offline')), 'the device to go offline');
    assert.equal(push.ctx().isOnline(ANN, PHONE), false);

    assert.deepEqual(heard, [
      'start',
      'registered ann phone true',
      'counts ann 3',
      'online ann phone true',
      'offline ann phone false',
    ]);
  });
});
