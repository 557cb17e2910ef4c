/** registerPush's bodies for each platform and webPushKey() (SPEC SDK-20). */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { BadgeSyncHttpError, base64UrlBytes, type FetchLike, registrationBody, webPushKey } from '../src/push.js';

const subscription = {
  endpoint: 'https://push.example.com/s/1',
  expirationTime: null,
  keys: { p256dh: 'BP-point', auth: 'secret' },
};

describe('push registrations', () => {
  test('[SDK-20] APNs bodies are v1 bodies; FCM and Web Push name their platform', () => {
    assert.deepEqual(registrationBody({ apnsToken: 'ab', environment: 'sandbox', badges: true }), {
      apnsToken: 'ab',
      environment: 'sandbox',
      badges: true,
    });
    assert.deepEqual(registrationBody({ platform: 'fcm', fcmToken: 'tok:1' }), { platform: 'fcm', fcmToken: 'tok:1' });
    const fromJson = registrationBody({ platform: 'webpush', subscription, badges: false });
    assert.deepEqual(fromJson, {
      platform: 'webpush',
      subscription: { endpoint: subscription.endpoint, keys: subscription.keys },
      badges: false,
    });
    // A browser PushSubscription: only its toJSON() is read.
    const browserLike = { toJSON: () => subscription, getKey: () => assert.fail('not read') };
    assert.deepEqual(registrationBody({ platform: 'webpush', subscription: browserLike }), {
      platform: 'webpush',
      subscription: { endpoint: subscription.endpoint, keys: subscription.keys },
    });
    assert.throws(
      () => registrationBody({ platform: 'webpush', subscription: { toJSON: () => ({ endpoint: 'x' }) } }),
      TypeError,
    );
  });

  test('[SDK-20] webPushKey answers the key as bytes, and throws the error answer', async () => {
    const key = Buffer.alloc(65, 7);
    key[0] = 4;
    const calls: string[] = [];
    const ok: FetchLike = async (url, init) => {
      calls.push(`${init.method} ${url} ${init.headers.authorization}`);
      return { status: 200, text: async () => JSON.stringify({ publicKey: key.toString('base64url') }) };
    };
    const bytes = await webPushKey({ apiBase: 'https://sync.example.com/', token: 't', fetch: ok });
    assert.deepEqual(Buffer.from(bytes), key);
    assert.deepEqual(calls, ['GET https://sync.example.com/v1/push/webpush-key Bearer t']);
    const refused: FetchLike = async () => ({
      status: 401,
      text: async () => JSON.stringify({ error: { code: 'unauthorized', message: 'no' } }),
    });
    await assert.rejects(webPushKey({ apiBase: 'https://x', token: 't', fetch: refused }), (err: unknown) => {
      assert.ok(err instanceof BadgeSyncHttpError);
      assert.equal(err.code, 'unauthorized');
      return true;
    });
    assert.deepEqual([...base64UrlBytes('_-8')], [0xff, 0xef]);
  });
});
