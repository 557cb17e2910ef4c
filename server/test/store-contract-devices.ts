/** Push registrations and sign-ins (SPEC STORE-7, STORE-14, AUTH-8): part of the store contract suite. */
import assert from 'node:assert/strict';
import type { AccountId } from '@badgesync/shared';
import { test } from 'vitest';
import type { DevicePatch, Registration, Store } from '../src/store/index.js';
import { A, B, batch, C, D1, D2, D3, refusal } from './store-fixtures.js';

export function storeDevicesContract(getStore: () => Store): void {
  test('[STORE-7] a new registration gets the defaults and is signed in', async () => {
    const store = getStore();
    const expected: Registration = {
      account: A,
      device: D1,
      address: null,
      webpushKeys: null,
      environment: 'production',
      topic: null,
      badges: true,
      tokenRegisteredAt: 0,
      tokenInvalidReason: null,
      signedIn: true,
    };
    assert.equal(await store.getRegistration(A, D1), null);
    assert.deepEqual(await store.putDevice(A, D1, {}, 100), expected);
    assert.deepEqual(await store.getRegistration(A, D1), expected);
    assert.equal(await store.getRegistration(B, D1), null);
    assert.deepEqual(await store.devicesOf(A), [D1]);
  });

  test('[STORE-7] omitted fields keep their value', async () => {
    const store = getStore();
    const full = await store.putDevice(
      A,
      D1,
      { apnsToken: 'ab12', environment: 'sandbox', topic: 'com.x', badges: false },
      100,
    );
    assert.deepEqual(await store.putDevice(A, D1, {}, 200), full);
    assert.deepEqual(await store.putDevice(A, D1, { badges: true }, 300), { ...full, badges: true });
    assert.deepEqual(await store.putDevice(A, D1, { topic: 'com.y', environment: 'production' }, 400), {
      ...full,
      badges: true,
      topic: 'com.y',
      environment: 'production',
    });
    assert.equal((await store.getRegistration(A, D1))?.tokenRegisteredAt, 100);
  });

  test('[STORE-7] tokens are stored lower-case; a new token is registered now and valid', async () => {
    const store = getStore();
    assert.equal((await store.putDevice(A, D1, { apnsToken: 'ABCDEF01' }, 100)).address, 'abcdef01');
    await store.invalidateToken('abcdef01', refusal('BadDeviceToken', 100));
    const invalid = await store.getRegistration(A, D1);
    assert.deepEqual([invalid?.address, invalid?.tokenInvalidReason], ['abcdef01', 'BadDeviceToken']);
    const next = await store.putDevice(A, D1, { apnsToken: '00FF' }, 300);
    assert.deepEqual([next.address, next.tokenRegisteredAt, next.tokenInvalidReason], ['00ff', 300, null]);
  });

  test('[STORE-7] registering the same token again revives that registration and refreshes tokenRegisteredAt', async () => {
    const store = getStore();
    await store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    await store.invalidateToken('aa', refusal('Unregistered', 100));
    const revived = await store.putDevice(A, D1, { apnsToken: 'AA' }, 500);
    assert.deepEqual([revived.address, revived.tokenRegisteredAt, revived.tokenInvalidReason], ['aa', 500, null]);
    assert.deepEqual(await store.getRegistration(A, D1), revived);
  });

  test("[STORE-14] a device in two accounts has two registrations: a PUT in one never changes the other's", async () => {
    const store = getStore();
    const inB = await store.putDevice(B, D1, { apnsToken: 'bb', environment: 'sandbox', topic: 'com.b' }, 100);
    await store.putDevice(A, D1, { apnsToken: 'cc', environment: 'production', topic: 'com.a', badges: false }, 200);
    await store.putDevice(A, D1, { apnsToken: 'dd' }, 300);
    assert.deepEqual(await store.getRegistration(B, D1), inB, "B's token, environment, topic and badges are untouched");
    assert.equal((await store.getRegistration(A, D1))?.address, 'dd');
    assert.deepEqual(await store.registrationsOfToken('bb'), [inB]);
    assert.deepEqual(await store.registrationsOfToken('cc'), [], 'the token A replaced is carried by nobody');
    await store.signOut(A, D1, 400);
    assert.deepEqual(await store.getRegistration(B, D1), inB, 'signing out of A leaves B');
  });

  test('[STORE-14] registrationsOfToken: every registration carrying the token, any account or device, sorted', async () => {
    const store = getStore();
    await store.putDevice(B, D2, { apnsToken: 'AA' }, 100);
    await store.putDevice(A, D2, { apnsToken: 'aa' }, 100);
    await store.putDevice(A, D1, { apnsToken: 'aa', badges: false }, 100);
    await store.putDevice(C, D3, { apnsToken: 'bb' }, 100);
    await store.putDevice(C, D1, {}, 100);
    await store.signOut(B, D2, 200);
    const pairs = async (token: string) =>
      (await store.registrationsOfToken(token)).map((r) => [r.account, r.device, r.signedIn]);
    assert.deepEqual(await pairs('aa'), [
      [A, D1, true],
      [A, D2, true],
      [B, D2, false],
    ]);
    assert.deepEqual(await pairs('bb'), [[C, D3, true]]);
    assert.deepEqual(await pairs('cc'), []);
  });

  test("[STORE-44] registrationsOf: the account's signed-in registrations, sorted by device; each write read at once", async () => {
    const store = getStore();
    /** What registrationsOf must answer: devicesOf, then each device's registration. */
    const expected = async (account: AccountId) =>
      Promise.all((await store.devicesOf(account)).map((device) => store.getRegistration(account, device)));
    const same = async (why: string) => {
      for (const account of [A, B, C])
        assert.deepEqual(await store.registrationsOf(account), await expected(account), why);
    };
    assert.deepEqual(await store.registrationsOf(A), []);
    await store.putDevice(A, D2, { apnsToken: 'aa' }, 100);
    await store.putDevice(A, D1, { fcmToken: 'f1' }, 100);
    await store.putDevice(A, D3, {}, 100);
    await store.putDevice(B, D1, { apnsToken: 'aa', topic: 'com.b' }, 100);
    assert.deepEqual(
      (await store.registrationsOf(A)).map((r) => [r.device, r.address]),
      [
        [D3, null],
        [D1, 'fcm:f1'],
        [D2, 'aa'],
      ],
      'sorted by device',
    );
    await same('after registering');
    // Each write below follows a read of every account, so an answer kept from before it shows.
    await store.putDevice(A, D1, { apnsToken: 'bb' }, 200);
    await same('a device moved to another address');
    await store.signOut(A, D3, 300);
    assert.deepEqual(
      (await store.registrationsOf(A)).map((r) => r.device),
      [D1, D2],
      'a signed-out device is left out',
    );
    await same('after a sign-out');
    await store.invalidateToken('aa', refusal('Unregistered', 400));
    assert.deepEqual(
      [...(await store.registrationsOf(A)), ...(await store.registrationsOf(B))].map((r) => r.tokenInvalidReason),
      [null, 'Unregistered', null],
      "the refusal of A's address marks A's registration; B's names another topic",
    );
    await same('after a refusal');
    await store.commit(
      batch({
        push: [{ kind: 'invalidateToken', token: 'aa', refusal: refusal('BadDeviceToken', 400, { topic: 'com.b' }) }],
      }),
    );
    assert.equal((await store.registrationsOf(B))[0]?.tokenInvalidReason, 'BadDeviceToken', 'a refusal in a batch');
    await same('after a refusal in a batch');
    const got = await store.registrationsOf(A);
    (got[0] as { address: string | null }).address = 'changed by the caller';
    assert.equal((await store.registrationsOf(A))[0]?.address, 'bb', "the caller's copy is its own");
    await store.putDevice(A, D3, {}, 500);
    await same('signed in again');
  });

  test('[STORE-7] signing out of one account keeps the registration (signed out) and the other accounts', async () => {
    const store = getStore();
    await store.putDevice(B, D1, { apnsToken: 'aa' }, 100);
    await store.putDevice(A, D1, { apnsToken: 'aa' }, 200);
    await store.putDevice(A, D2, {}, 200);
    assert.deepEqual(await store.devicesOf(A), [D1, D2]);
    assert.deepEqual(await store.devicesOf(B), [D1]);

    assert.equal(await store.signOut(A, D1, 10), true);
    assert.equal(await store.signOut(A, D1, 11), false);
    assert.equal(await store.signOut(C, D3, 12), false);
    assert.deepEqual(await store.devicesOf(A), [D2]);
    assert.deepEqual(await store.devicesOf(B), [D1]);
    assert.deepEqual(await store.devicesOf(C), []);
    // The registration stays, signed out, with its token: its phone's badge may need clearing.
    assert.deepEqual(
      [(await store.getRegistration(A, D1))?.address, (await store.getRegistration(A, D1))?.signedIn],
      ['aa', false],
    );
    assert.equal(await store.getRegistration(C, D3), null);
    assert.equal((await store.putDevice(A, D1, {}, 300)).signedIn, true);
    assert.deepEqual(await store.devicesOf(A), [D1, D2]);
  });

  test('[AUTH-8] signing out records when; signing in again keeps it; other pairs are untouched', async () => {
    const store = getStore();
    await store.putDevice(A, D1, {}, 100);
    assert.equal(await store.revokedAt(A, D1), null);
    await store.signOut(A, D1, 150);
    assert.equal(await store.revokedAt(A, D1), 150);
    assert.equal(await store.revokedAt(B, D1), null);
    await store.signOut(A, D1, 170);
    assert.equal(await store.revokedAt(A, D1), 170, 'a second sign-out moves the time on');
    await store.signOut(C, D3, 180);
    assert.equal(await store.revokedAt(C, D3), 180, 'a device never signed in can be revoked too');
    await store.putDevice(A, D1, {}, 200);
    assert.equal(await store.revokedAt(A, D1), 170, 'tokens from before the sign-out stay revoked after a new sign-in');
    assert.deepEqual(await store.devicesOf(A), [D1]);
  });

  test('[STORE-14] invalidateToken marks every registration carrying the token, registered at or before the bound', async () => {
    const store = getStore();
    await store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    await store.putDevice(B, D1, { apnsToken: 'aa' }, 150);
    await store.putDevice(B, D2, { apnsToken: 'aa' }, 300);
    await store.putDevice(C, D3, { apnsToken: 'bb' }, 100);
    await store.invalidateToken('aa', refusal('Unregistered', 200));
    const reason = async (account: AccountId, device: typeof D1) =>
      (await store.getRegistration(account, device))?.tokenInvalidReason;
    assert.equal(await reason(A, D1), 'Unregistered');
    assert.equal(await reason(B, D1), 'Unregistered');
    assert.equal(await reason(B, D2), null, 'registered after what APNs refused');
    assert.equal(await reason(C, D3), null, 'another token');
    assert.equal((await store.getRegistration(A, D1))?.address, 'aa', 'the token is kept, marked');
    await store.invalidateToken('ff', refusal('Unregistered', 1_000));
    assert.deepEqual(await store.registrationsOfToken('ff'), []);
  });

  test('[STORE-14] invalidateToken leaves registrations of the token for another environment or topic', async () => {
    const store = getStore();
    await store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    await store.putDevice(B, D1, { apnsToken: 'aa', topic: 'com.example.watch' }, 100);
    await store.putDevice(C, D1, { apnsToken: 'aa', environment: 'sandbox' }, 100);
    const reason = async (account: AccountId) => (await store.getRegistration(account, D1))?.tokenInvalidReason ?? null;
    await store.invalidateToken('aa', refusal('DeviceTokenNotForTopic', 200, { topic: 'com.example.watch' }));
    assert.deepEqual(await Promise.all([reason(A), reason(B), reason(C)]), [null, 'DeviceTokenNotForTopic', null]);
    await store.invalidateToken('aa', refusal('BadDeviceToken', 200));
    assert.deepEqual(await Promise.all([reason(A), reason(B), reason(C)]), [
      'BadDeviceToken',
      'DeviceTokenNotForTopic',
      null,
    ]);
    await store.invalidateToken('aa', refusal('Unregistered', 200, { environment: 'sandbox' }));
    assert.equal(await reason(C), 'Unregistered');
  });

  test('[STORE-7] a bad registration is refused and changes nothing', async () => {
    const store = getStore();
    const bad: DevicePatch[] = [
      { environment: 'staging' as 'sandbox' },
      { apnsToken: '' },
      { apnsToken: 'not hex' },
      { badges: 'yes' as unknown as boolean },
    ];
    for (const patch of bad) await assert.rejects(store.putDevice(A, D1, patch, 100), TypeError, JSON.stringify(patch));
    await assert.rejects(store.putDevice(A, D1, {}, Number.NaN), TypeError);
    await assert.rejects(store.putDevice('' as AccountId, D1, {}, 100), TypeError);
    assert.equal(await store.getRegistration(A, D1), null);
    assert.deepEqual(await store.devicesOf(A), []);
  });

  test('[STORE-14] pushableTokens: tokens of a registration with a valid token and badges on, signed in or not', async () => {
    const store = getStore();
    assert.deepEqual(await store.pushableTokens(), []);
    await store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    await store.putDevice(B, D1, { apnsToken: 'aa' }, 100);
    await store.putDevice(A, D2, {}, 100);
    await store.putDevice(B, D3, { apnsToken: 'cc' }, 100);
    assert.deepEqual(await store.pushableTokens(), ['aa', 'cc'], 'one entry per token');
    await store.signOut(A, D1, 13);
    await store.signOut(B, D1, 13);
    assert.deepEqual(await store.pushableTokens(), ['aa', 'cc']);
    await store.putDevice(B, D3, { badges: false }, 200);
    await store.invalidateToken('aa', refusal('Unregistered', 100));
    assert.deepEqual(await store.pushableTokens(), []);
    await store.putDevice(C, D1, { apnsToken: 'aa' }, 300);
    assert.deepEqual(await store.pushableTokens(), ['aa']);
  });

  test("[STORE-19] FCM and Web Push registrations are stored by push address, with a subscription's keys", async () => {
    const store = getStore();
    const keys = { p256dh: 'BP'.padEnd(87, 'x'), auth: 'a'.repeat(22) };
    const endpoint = 'https://push.example.net/send/abc';
    await store.putDevice(A, D1, { apnsToken: 'AA', environment: 'sandbox', topic: 'com.x' }, 100);
    const fcm = await store.putDevice(A, D1, { fcmToken: 'fcm-Token:1' }, 200);
    assert.deepEqual(
      [fcm.address, fcm.webpushKeys, fcm.environment, fcm.topic, fcm.tokenRegisteredAt],
      ['fcm:fcm-Token:1', null, 'production', null, 200],
      'an FCM address has no APNs environment or topic; the token keeps its case',
    );
    const named = await store.putDevice(A, D1, { environment: 'sandbox', topic: 'com.y' }, 250);
    assert.deepEqual([named.environment, named.topic], ['production', null], 'an FCM address takes no APNs fields');
    const web = await store.putDevice(B, D1, { webpush: { endpoint, keys } }, 300);
    assert.deepEqual([web.address, web.webpushKeys], [`webpush:${endpoint}`, keys]);
    assert.deepEqual((await store.getRegistration(B, D1))?.webpushKeys, keys);
    await store.putDevice(C, D2, { fcmToken: 'fcm-Token:1' }, 300);
    assert.deepEqual(
      (await store.registrationsOfToken('fcm:fcm-Token:1')).map((r) => [r.account, r.device]),
      [
        [A, D1],
        [C, D2],
      ],
    );
    assert.deepEqual(await store.registrationsOfToken('fcm-Token:1'), [], 'the bare token is no address');
    assert.deepEqual(await store.pushableTokens(), ['fcm:fcm-Token:1', `webpush:${endpoint}`]);
    await store.invalidateToken(`webpush:${endpoint}`, refusal('Gone', 300));
    assert.equal((await store.getRegistration(B, D1))?.tokenInvalidReason, 'Gone');
    const badgesOff = await store.putDevice(B, D1, { badges: false }, 400);
    assert.deepEqual([badgesOff.address, badgesOff.webpushKeys], [`webpush:${endpoint}`, keys], 'kept when omitted');
    const back = await store.putDevice(B, D1, { apnsToken: 'BB' }, 500);
    assert.deepEqual([back.address, back.webpushKeys, back.tokenInvalidReason], ['bb', null, null]);
  });

  test('[STORE-19] a bad FCM or Web Push registration, or one naming two addresses, is refused', async () => {
    const store = getStore();
    const keys = { p256dh: 'BP'.padEnd(87, 'x'), auth: 'a'.repeat(22) };
    const bad: DevicePatch[] = [
      { fcmToken: '' },
      { fcmToken: 'has space' },
      { webpush: { endpoint: 'http://push.example.net/x', keys } },
      { webpush: { endpoint: 'not a url', keys } },
      { webpush: { endpoint: 'https://push.example.net/x', keys: { ...keys, auth: '' } } },
      { apnsToken: 'aa', fcmToken: 'x' },
      { fcmToken: 'x', webpush: { endpoint: 'https://push.example.net/x', keys } },
    ];
    for (const patch of bad) await assert.rejects(store.putDevice(A, D1, patch, 100), TypeError, JSON.stringify(patch));
    assert.equal(await store.getRegistration(A, D1), null);
  });
}
