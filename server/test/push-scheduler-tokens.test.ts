/**
 * One phone, one push (SPEC PUSH-10, STORE-14): registrations that carry the same APNs token
 * are one phone, coalesced into one outbox entry and one push per window with the sum of their
 * accounts' badges; a registration in one account never moves another account's pushes.
 */
import assert from 'node:assert/strict';
import { parseAccountId, parseDeviceId } from '@badgesync/shared';
import { describe, test } from 'vitest';
import { A, B, counter, GRACE, MAC, NEW_TOKEN, PHONE, TOKEN, useScheduler, WINDOW } from './push-scheduler-harness.js';

const C = parseAccountId('carol');
const FIVE = ['r1', 'r2', 'r3', 'r4', 'r5'].map((d) => parseDeviceId(d));

describe('PushScheduler: one push per phone (APNs token)', () => {
  const context = useScheduler();

  test('[PUSH-10] five registrations of one account naming one token: one push per window, the account counted once', async () => {
    const { h } = context;
    for (const device of FIVE) h.register(A, device);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [0], 'the registrations coalesce into one push');
    for (let badge = 1; badge <= 10; badge++) {
      h.change(A, badge);
      await h.advance(50);
    }
    await h.advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), [0, 10], 'one push for the burst, with the final value, not 5 × 10');
    assert.ok(h.sender.pushes.every((push) => push.apnsToken === TOKEN));
    assert.deepEqual(h.store.countPushes(), { pending: 0, parked: 0 });
    assert.equal(h.store.getDelivered(TOKEN), 10);
  });

  test('[PUSH-10] registrations of several accounts on one token: the push carries the sum of the accounts', async () => {
    const { h } = context;
    h.change(A, 2);
    h.change(B, 3);
    h.change(C, 100);
    h.register(A, PHONE);
    h.register(A, MAC); // a second registration of A on the same phone adds nothing
    h.register(B, MAC);
    h.register(C, PHONE, NEW_TOKEN); // another phone
    await h.advance(WINDOW);
    const byToken = (token: string) => h.sender.pushes.filter((p) => p.apnsToken === token).map((p) => p.badge);
    assert.deepEqual(byToken(TOKEN), [5]);
    assert.deepEqual(byToken(NEW_TOKEN), [100]);
  });

  test('[PUSH-10] a registration with badges off leaves its account out of the phone’s sum', async () => {
    const { h } = context;
    h.change(A, 2);
    h.change(B, 3);
    h.register(A, PHONE);
    h.register(B, PHONE);
    h.store.putDevice(B, MAC, { apnsToken: TOKEN, badges: false }, Date.now());
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5]);
    h.store.putDevice(B, PHONE, { badges: false }, Date.now());
    h.scheduler.deviceRegistered(B, PHONE, false, TOKEN);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5, 2]);
  });

  test('[STORE-14][PUSH-10] re-registering a device in A with a new token does not move what the phone gets for B', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.register(B, PHONE);
    h.change(A, 1);
    h.change(B, 4);
    await h.advance(WINDOW);
    assert.deepEqual(
      h.sender.pushes.map((p) => [p.apnsToken, p.badge]),
      [[TOKEN, 5]],
    );
    // A token for A (with did = PHONE) registers another APNs token: only A's registration moves.
    h.register(A, PHONE, NEW_TOKEN);
    await h.advance(WINDOW);
    h.change(B, 6);
    await h.advance(WINDOW);
    const pushes = h.sender.pushes.slice(1).map((p) => [p.apnsToken, p.badge]);
    assert.deepEqual(
      pushes.filter(([token]) => token === TOKEN),
      [
        [TOKEN, 4],
        [TOKEN, 6],
      ],
      'the old phone drops A from its sum and keeps getting B',
    );
    assert.deepEqual(
      pushes.filter(([token]) => token === NEW_TOKEN),
      [[NEW_TOKEN, 1]],
      "the new token gets A's badge and nothing of B's",
    );
  });

  test('[PUSH-3][PUSH-10] the phone is online for an account when any of its registrations there is', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.register(A, MAC);
    await h.advance(WINDOW);
    h.goOnline(A, MAC);
    h.change(A, 3);
    await h.advance(2 * WINDOW);
    assert.deepEqual(h.sender.badges(), [0], 'online through one registration: no push');
    h.goOffline(A, MAC);
    await h.advance(GRACE + WINDOW);
    assert.deepEqual(h.sender.badges(), [0, 3]);
    // Skipped as online at least once (the start-up sweep, due at GRACE, may skip it again).
    assert.ok((await counter(h.metrics.skipped)) >= 1);
  });

  test('[PUSH-10] a sign-out drops the account from the phone’s sum; signed out of all, the badge is cleared', async () => {
    const { h } = context;
    h.change(A, 2);
    h.change(B, 3);
    h.register(A, PHONE);
    h.register(B, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5]);
    h.store.signOut(A, PHONE, Date.now());
    h.scheduler.deviceSignedOut(A, PHONE);
    await h.advance(WINDOW);
    h.store.signOut(B, PHONE, Date.now());
    h.scheduler.deviceSignedOut(B, PHONE);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [5, 3, 0]);
  });

  test('[PUSH-7][PUSH-10] APNs refusing the token stops it for every registration that carried it when sent', async () => {
    const { h } = context;
    h.register(A, PHONE);
    h.register(B, MAC);
    h.sender.answer({ kind: 'invalid-token', reason: 'BadDeviceToken' });
    await h.advance(WINDOW);
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, 'BadDeviceToken');
    assert.equal(h.store.getRegistration(B, MAC)?.tokenInvalidReason, 'BadDeviceToken');
    const sends = h.sender.pushes.length;
    h.change(A, 1);
    h.change(B, 1);
    await h.advance(3 * WINDOW);
    assert.equal(h.sender.pushes.length, sends, 'the token gets nothing more');
    // A registration of the token afterwards revives that registration: the phone gets A's count.
    h.register(A, PHONE);
    await h.advance(WINDOW + 20);
    assert.deepEqual(h.sender.badges().slice(sends), [1]);
  });
  test('[PUSH-7][PUSH-10] a registration naming a wrong topic for the phone is refused alone; the phone gets its badge through the right one', async () => {
    const { h } = context;
    h.register(B, MAC);
    h.change(B, 4);
    await h.advance(WINDOW);
    assert.deepEqual(h.sender.badges(), [4]);
    // Another account registers the same token, later, with another app's topic: it is the
    // newest registration, so the next push goes to that topic, and APNs refuses it.
    h.change(A, 1);
    h.store.putDevice(A, PHONE, { apnsToken: TOKEN, topic: 'com.example.other' }, Date.now());
    h.scheduler.deviceRegistered(A, PHONE, true, null);
    h.sender.answer({ kind: 'invalid-token', reason: 'DeviceTokenNotForTopic' });
    await h.advance(WINDOW);
    assert.equal(h.sender.pushes.at(-1)?.topic, 'com.example.other');
    assert.equal(h.store.getRegistration(A, PHONE)?.tokenInvalidReason, 'DeviceTokenNotForTopic');
    assert.equal(h.store.getRegistration(B, MAC)?.tokenInvalidReason, null, "B's registration keeps the token");
    await h.advance(WINDOW + 20);
    const last = h.sender.pushes.at(-1);
    assert.deepEqual([last?.topic, last?.badge], ['com.example.app', 4], "the phone gets B's badge on B's topic");
    h.change(B, 5);
    await h.advance(WINDOW + 20);
    assert.deepEqual(h.sender.badges().slice(-1), [5]);
  });
  test('[API-9][PUSH-10] a registration whose topic is no longer configured is not pushed, nor counted in the phone’s sum', async () => {
    const { h } = context;
    h.change(A, 2);
    h.change(B, 3);
    h.register(A, PHONE);
    h.store.putDevice(B, MAC, { apnsToken: TOKEN, topic: 'com.example.retired' }, Date.now() - 1);
    await h.advance(WINDOW);
    // Before any restart every configured topic is allowed: the newest registration (A's) carries 2 + 3.
    assert.deepEqual(h.sender.badges(), [5]);
    // The operator drops the retired app's topic and restarts.
    h.allowedTopics = new Set(['com.example.app']);
    h.restart();
    await h.advance(GRACE + WINDOW);
    h.change(A, 4);
    await h.advance(WINDOW + 20);
    const last = h.sender.pushes.at(-1);
    assert.deepEqual([last?.topic, last?.badge], ['com.example.app', 4], "B's retired registration adds nothing");
    assert.ok(h.sender.pushes.every((push) => push.topic !== 'com.example.retired'));
  });
});
