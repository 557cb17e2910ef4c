/**
 * The seam under apns2 (apns-transport.ts). The apns2 internal it relies on (the `client`
 * field) is asserted here, so an apns2 upgrade that moves it fails this file by name;
 * apns-sender.test.ts proves the whole path (port, TLS trust, our provider token on the
 * wire) against the test APNs server.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import { ApnsClient, Notification } from 'apns2';
import { describe, test } from 'vitest';
import { APNS_PORT, ApnsHost, apnsOrigin, createApnsClient, parseApnsHost } from '../src/push/apns-transport.js';

const signingKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();

describe('parseApnsHost', () => {
  const valid: readonly [string, string, number][] = [
    [ApnsHost.production, ApnsHost.production, APNS_PORT],
    [ApnsHost.sandbox, ApnsHost.sandbox, APNS_PORT],
    ['127.0.0.1:8443', '127.0.0.1', 8443],
    ['localhost:2197', 'localhost', 2197],
    ['apns-proxy.internal', 'apns-proxy.internal', APNS_PORT],
    ['[::1]:8443', '::1', 8443],
    ['[::1]', '::1', APNS_PORT],
    [' 127.0.0.1:9 ', '127.0.0.1', 9],
  ];
  for (const [value, hostname, port] of valid) {
    test(`${JSON.stringify(value)} → ${hostname} port ${port}`, () => {
      assert.deepEqual(parseApnsHost(value), { hostname, port });
    });
  }
  for (const value of ['', ':443', 'host:0', 'host:65536', 'https://api.push.apple.com', 'host:port', '::1', 'a b']) {
    test(`${JSON.stringify(value)} is refused`, () => {
      assert.throws(() => parseApnsHost(value), /host:port/);
    });
  }
  test('apnsOrigin brackets IPv6', () => {
    assert.equal(apnsOrigin({ hostname: '::1', port: 8443 }), 'https://[::1]:8443');
    assert.equal(apnsOrigin({ hostname: '127.0.0.1', port: 8443 }), 'https://127.0.0.1:8443');
  });
});

describe('apns2 internals the transport relies on (fails on an apns2 upgrade that moves them)', () => {
  test('ApnsClient keeps an undici Pool in an own, writable `client` field', async () => {
    const client = new ApnsClient({
      team: 'TEAM',
      keyId: 'KEY',
      signingKey,
      host: 'example.invalid',
      keepAlive: false,
    });
    const descriptor = Object.getOwnPropertyDescriptor(client, 'client');
    assert.equal(descriptor?.writable, true);
    assert.equal(client.client.constructor.name, 'Pool');
    assert.equal(typeof client.client.request, 'function');
    await client.close();
  });
});

describe('createApnsClient', () => {
  test('requests go to the configured port, through a Pool of our own', async () => {
    // A plain TCP listener: enough to see where apns2's request goes, no TLS needed.
    const connections: number[] = [];
    const listener = net.createServer((socket) => {
      connections.push(socket.localPort ?? 0);
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const port = (listener.address() as net.AddressInfo).port;
    const client = createApnsClient({
      endpoint: { hostname: '127.0.0.1', port },
      teamId: 'TEAM',
      keyId: 'KEY',
      signingKey,
      authorization: () => 'our-token',
      requestTimeoutMs: 2_000,
    });
    try {
      assert.equal(client.client.constructor.name, 'Pool');
      assert.ok(Object.hasOwn(client.client, 'dispatch'), 'dispatch stamped on our Pool');
      await assert.rejects(client.send(new Notification('ab'.repeat(32), { badge: 1, topic: 't' })));
      assert.deepEqual(connections, [port]);
    } finally {
      await client.close();
      await new Promise((resolve) => listener.close(resolve));
    }
  });

  test('refuses to send when apns2 passes headers in another shape (instead of sending unsigned)', async () => {
    const client = createApnsClient({
      endpoint: { hostname: '127.0.0.1', port: 9 },
      teamId: 'TEAM',
      keyId: 'KEY',
      signingKey,
      authorization: () => 'our-token',
      requestTimeoutMs: 2_000,
    });
    try {
      await assert.rejects(
        client.client.request({ path: '/', method: 'POST', headers: ['authorization', 'bearer theirs'] }),
        /unexpected shape/,
      );
    } finally {
      await client.close();
    }
  });
});
