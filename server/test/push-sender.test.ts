/**
 * The PushSender contract against both implementations, plus what only LogSender promises
 * and how `createPushSender` picks one.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, test } from 'vitest';
import { ApnsTestServer } from '../../test/helpers/apns-test-server.js';
import { ApnsSender } from '../src/push/apns-sender.js';
import { createPushSender } from '../src/push/create-push-sender.js';
import { LogSender } from '../src/push/log-sender.js';
import { ChildApnsSender, killAllChildSenders } from './apns-child-sender.js';
import { APNS_SHAPE, badgePush, logSink, type ObservedPush, pushSenderContract } from './push-sender-contract.js';

afterAll(killAllChildSenders);

pushSenderContract('LogSender', APNS_SHAPE, async () => {
  const sink = logSink();
  return {
    sender: new LogSender({ log: sink.log }),
    observed: async () =>
      sink.lines.map(({ fields }) => ({
        token: String(fields.apnsToken),
        topic: String(fields.topic),
        badge: Number(fields.badge),
        collapseId: String(fields.collapseId),
      })),
    teardown: async () => {},
  };
});

pushSenderContract('ApnsSender (child process trusting the test CA, test APNs server)', APNS_SHAPE, async () => {
  const server = await ApnsTestServer.start();
  const child = await ChildApnsSender.start({ server });
  return {
    sender: child,
    observed: async () =>
      server.requests.map(
        (request): ObservedPush => ({
          token: request.deviceToken,
          topic: request.headers['apns-topic'] ?? '',
          badge: (request.payload as { aps: { badge: number } }).aps.badge,
          collapseId: request.headers['apns-collapse-id'] ?? '',
        }),
      ),
    teardown: async () => {
      await child.stop();
      await server.close();
    },
  };
});

describe('LogSender', () => {
  test('logs every field of the push at info, once', async () => {
    const sink = logSink();
    const sender = new LogSender({ log: sink.log });
    const push = badgePush({ badge: 4, environment: 'sandbox' });
    assert.deepEqual(await sender.send(push), { kind: 'sent' });
    assert.equal(sink.lines.length, 1);
    assert.equal(sink.lines[0]?.level, 'info');
    assert.deepEqual(sink.lines[0]?.fields, { ...push });
    assert.match(sink.lines[0]?.message ?? '', /no APNs key/);
    await sender.close();
  });
});

describe('createPushSender', () => {
  const settings = { apnsKeyFile: null, apnsKeyId: null, apnsTeamId: null, apnsHost: null };

  test('without a key file: LogSender, and a warning that pushes are only logged', async () => {
    const sink = logSink();
    const sender = await createPushSender(settings, sink.log);
    assert.ok(sender instanceof LogSender);
    assert.equal(sink.lines[0]?.level, 'warn');
    await sender.close();
  });

  test('with a key file: ApnsSender; a key file without key id or team id is refused by name', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-key-'));
    try {
      const keyFile = path.join(dir, 'AuthKey.p8');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const sink = logSink();
      const sender = await createPushSender(
        { ...settings, apnsKeyFile: keyFile, apnsKeyId: 'KEY0000001', apnsTeamId: 'TEAM000001' },
        sink.log,
      );
      assert.ok(sender instanceof ApnsSender);
      await sender.close();
      await assert.rejects(
        createPushSender({ ...settings, apnsKeyFile: keyFile, apnsTeamId: 'TEAM000001' }, sink.log),
        /BADGESYNC_APNS_KEY_ID/,
      );
      await assert.rejects(
        createPushSender({ ...settings, apnsKeyFile: keyFile, apnsKeyId: 'KEY0000001' }, sink.log),
        /BADGESYNC_APNS_TEAM_ID/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a key file that is not an EC P-256 key is refused at start, not at the first push', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'badgesync-key-'));
    try {
      const keyFile = path.join(dir, 'AuthKey.p8');
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      await writeFile(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      await assert.rejects(
        createPushSender({ ...settings, apnsKeyFile: keyFile, apnsKeyId: 'K', apnsTeamId: 'T' }, logSink().log),
        /EC P-256/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
