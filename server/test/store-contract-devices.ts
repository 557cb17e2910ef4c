/** Devices and sign-ins (SPEC STORE-7): part of the store contract suite. */
import assert from 'node:assert/strict';
import { test } from 'vitest';
import type { DevicePatch, DeviceRecord, Store } from '../src/store/index.js';
import { A, B, C, D1, D2, D3 } from './store-fixtures.js';

export function storeDevicesContract(getStore: () => Store): void {
  test('[STORE-7] a new device gets the defaults and is signed in', () => {
    const store = getStore();
    const expected: DeviceRecord = {
      device: D1,
      apnsToken: null,
      environment: 'production',
      topic: null,
      badges: true,
      tokenRegisteredAt: 0,
      tokenInvalidReason: null,
    };
    assert.equal(store.getDevice(D1), null);
    assert.deepEqual(store.putDevice(A, D1, {}, 100), expected);
    assert.deepEqual(store.getDevice(D1), expected);
    assert.deepEqual(store.devicesOf(A), [D1]);
    assert.deepEqual(store.accountsOf(D1), [A]);
  });

  test('[STORE-7] omitted fields keep their value', () => {
    const store = getStore();
    const full = store.putDevice(
      A,
      D1,
      { apnsToken: 'ab12', environment: 'sandbox', topic: 'com.x', badges: false },
      100,
    );
    assert.deepEqual(store.putDevice(A, D1, {}, 200), full);
    assert.deepEqual(store.putDevice(A, D1, { badges: true }, 300), { ...full, badges: true });
    assert.deepEqual(store.putDevice(A, D1, { topic: 'com.y', environment: 'production' }, 400), {
      ...full,
      badges: true,
      topic: 'com.y',
      environment: 'production',
    });
    assert.equal(store.getDevice(D1)?.tokenRegisteredAt, 100);
  });

  test('[STORE-7] tokens are stored lower-case; a new token is registered now and valid', () => {
    const store = getStore();
    assert.equal(store.putDevice(A, D1, { apnsToken: 'ABCDEF01' }, 100).apnsToken, 'abcdef01');
    store.invalidateToken(D1, 'BadDeviceToken');
    const invalid = store.getDevice(D1);
    assert.deepEqual([invalid?.apnsToken, invalid?.tokenInvalidReason], ['abcdef01', 'BadDeviceToken']);
    const next = store.putDevice(A, D1, { apnsToken: '00FF' }, 300);
    assert.deepEqual([next.apnsToken, next.tokenRegisteredAt, next.tokenInvalidReason], ['00ff', 300, null]);
  });

  test('[STORE-7] registering the same token again revives it and refreshes tokenRegisteredAt', () => {
    const store = getStore();
    store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    store.invalidateToken(D1, 'Unregistered');
    const revived = store.putDevice(B, D1, { apnsToken: 'AA' }, 500);
    assert.deepEqual([revived.apnsToken, revived.tokenRegisteredAt, revived.tokenInvalidReason], ['aa', 500, null]);
    assert.deepEqual(store.getDevice(D1), revived);
  });

  test('[STORE-7] a device signed in to two accounts; signing out of one keeps the other', () => {
    const store = getStore();
    store.putDevice(B, D1, { apnsToken: 'aa' }, 100);
    store.putDevice(A, D1, {}, 200);
    store.putDevice(A, D2, {}, 200);
    store.putDevice(A, D1, {}, 300);
    assert.deepEqual(store.accountsOf(D1), [A, B]);
    assert.deepEqual(store.devicesOf(A), [D1, D2]);
    assert.deepEqual(store.devicesOf(B), [D1]);

    assert.equal(store.signOut(A, D1, 10), true);
    assert.equal(store.signOut(A, D1, 11), false);
    assert.equal(store.signOut(C, D3, 12), false);
    assert.deepEqual(store.accountsOf(D1), [B]);
    assert.deepEqual(store.devicesOf(A), [D2]);
    // Signing out keeps the device and its token, for its other accounts.
    assert.equal(store.getDevice(D1)?.apnsToken, 'aa');
    assert.deepEqual(store.accountsOf(D3), []);
    assert.deepEqual(store.devicesOf(C), []);
  });

  test('[AUTH-6] signing out records when; signing in again clears it; other pairs are untouched', () => {
    const store = getStore();
    store.putDevice(A, D1, {}, 100);
    assert.equal(store.revokedAt(A, D1), null);
    store.signOut(A, D1, 150);
    assert.equal(store.revokedAt(A, D1), 150);
    assert.equal(store.revokedAt(B, D1), null);
    store.signOut(A, D1, 170);
    assert.equal(store.revokedAt(A, D1), 170, 'a second sign-out moves the time on');
    store.signOut(C, D3, 180);
    assert.equal(store.revokedAt(C, D3), 180, 'a device never signed in can be revoked too');
    store.putDevice(A, D1, {}, 200);
    assert.equal(store.revokedAt(A, D1), null);
    assert.deepEqual(store.accountsOf(D1), [A]);
  });

  test('[STORE-7] invalidateToken records the reason and keeps the token; an unknown device is a no-op', () => {
    const store = getStore();
    store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    store.invalidateToken(D1, 'Unregistered');
    const device = store.getDevice(D1);
    assert.deepEqual(
      [device?.apnsToken, device?.tokenInvalidReason, device?.tokenRegisteredAt],
      ['aa', 'Unregistered', 100],
    );
    store.invalidateToken(D2, 'Unregistered');
    assert.equal(store.getDevice(D2), null);
  });

  test('[STORE-7] a bad registration is refused and changes nothing', () => {
    const store = getStore();
    const bad: DevicePatch[] = [
      { environment: 'staging' as 'sandbox' },
      { apnsToken: '' },
      { badges: 'yes' as unknown as boolean },
    ];
    for (const patch of bad) assert.throws(() => store.putDevice(A, D1, patch, 100), TypeError, JSON.stringify(patch));
    assert.throws(() => store.putDevice(A, D1, {}, Number.NaN), TypeError);
    assert.equal(store.getDevice(D1), null);
    assert.deepEqual(store.devicesOf(A), []);
  });

  test('[STORE-7] pushableDevices: a valid token and badges on, signed in or not', () => {
    const store = getStore();
    assert.deepEqual(store.pushableDevices(), []);
    store.putDevice(A, D1, { apnsToken: 'aa' }, 100);
    store.putDevice(A, D2, {}, 100);
    store.putDevice(B, D3, { apnsToken: 'cc' }, 100);
    assert.deepEqual(store.pushableDevices(), [D3, D1]);
    store.signOut(A, D1, 13);
    assert.deepEqual(store.pushableDevices(), [D3, D1]);
    store.putDevice(B, D3, { badges: false }, 200);
    store.invalidateToken(D1, 'Unregistered');
    assert.deepEqual(store.pushableDevices(), []);
    store.putDevice(C, D1, { apnsToken: 'aa' }, 300);
    assert.deepEqual(store.pushableDevices(), [D1]);
  });
}
