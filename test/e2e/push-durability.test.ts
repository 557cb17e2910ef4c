/**
 * `kill -9` loses no badge (SPEC PUSH-8, invariant 4): the outbox is in the SQLite file, so a
 * push pending when the process dies — waiting out its coalescing window, backing off from
 * 503s, or in flight — is delivered by the next process on the same folder.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'vitest';
import { ApnsAnswers } from '../helpers/apns-test-server.js';
import { metric } from '../helpers/metrics.js';
import {
  delivered,
  post,
  register,
  usePushRig,
  waitForBadge,
  waitForLog,
  waitForMetric,
  waitForRequests,
} from '../helpers/push-rig.js';

describe('push: kill -9 with pushes pending', () => {
  const ctx = usePushRig();

  /** kill -9, then a new process on the same folder (and `env` on top of the ctx.rig's). */
  async function crashAndRestart(env: Readonly<Record<string, string>> = {}): Promise<void> {
    await ctx.rig.server.kill();
    ctx.rig.server = await ctx.rig.server.restart(env);
  }

  test('[PUSH-8] APNs answering 503, then the process killed: the next one delivers the badge', async () => {
    const { apns } = ctx.rig;
    const phone = await register(ctx.rig.server, 'ann', 'ann-phone');
    await waitForBadge(apns, phone, 0);
    apns.answerAlways(phone, ApnsAnswers.serviceUnavailable);
    await post(ctx.rig.server, 'ann', 'inbox', 3);
    await waitForRequests(apns, phone, 2);
    await waitForMetric(
      ctx.rig.server,
      'badgesync_pushes_retried_total',
      { reason: 'ServiceUnavailable' },
      (n) => n >= 1,
    );
    await crashAndRestart();
    apns.resetAnswers();
    await waitForBadge(apns, phone, 3);
    assert.deepEqual(delivered(apns, phone), [0, 3]);
    await waitForMetric(ctx.rig.server, 'badgesync_push_queue_depth', {}, (depth) => depth === 0);
  });

  test('[PUSH-8] killed inside the coalescing window: the next process sends the badge', async () => {
    const { apns } = ctx.rig;
    // A long window, so the kill surely lands inside it.
    await crashAndRestart({ BADGESYNC_PUSH_DELAY_MS: '3000' });
    const phone = await register(ctx.rig.server, 'bea', 'bea-phone');
    assert.equal(await post(ctx.rig.server, 'bea', 'inbox', 5), 5);
    assert.deepEqual(apns.requestsFor(phone), [], 'nothing sent before the window closes');
    await crashAndRestart({ BADGESYNC_PUSH_DELAY_MS: '100' });
    await waitForBadge(apns, phone, 5);
    assert.deepEqual(delivered(apns, phone), [5]);
  });

  test('[PUSH-8] killed with the push in flight: the next process sends it again', async () => {
    const { apns } = ctx.rig;
    const phone = await register(ctx.rig.server, 'cai', 'cai-phone');
    await waitForBadge(apns, phone, 0);
    apns.enqueue(phone, ApnsAnswers.slow(5_000));
    await post(ctx.rig.server, 'cai', 'inbox', 2);
    await apns.waitFor(
      () => apns.requestsFor(phone).length === 2,
      10_000,
      () => 'the push in flight',
    );
    await crashAndRestart();
    await waitForBadge(apns, phone, 2);
    const [, lost, again] = apns.requestsFor(phone);
    assert.deepEqual(lost?.answer, { cancelled: true }, 'the first never got its answer to the dead process');
    assert.equal(again?.answer !== null && again?.answer !== undefined && 'status' in again.answer, true);
  });

  test('[PUSH-8][PUSH-6] after a restart every device is checked; one whose badge APNs has is not queued again', async () => {
    const { apns } = ctx.rig;
    const phone = await register(ctx.rig.server, 'dan', 'dan-phone');
    await post(ctx.rig.server, 'dan', 'inbox', 1);
    await waitForBadge(apns, phone, 1);
    await waitForMetric(ctx.rig.server, 'badgesync_push_queue_depth', {}, (depth) => depth === 0);
    await crashAndRestart();
    // Once the grace period is over the new process sweeps every pushable phone (APNs token),
    // and queues those whose badge differs from the one APNs accepted: here, none.
    const sweep = await waitForLog(ctx.rig.server, 'push restart sweep done');
    assert.ok(Number(sweep.tokens) >= 1, 'the phone was looked at');
    assert.equal(sweep.queued, 0);
    assert.deepEqual(delivered(apns, phone), [1]);
    assert.equal(await metric(ctx.rig.server, 'badgesync_pushes_sent_total'), 0, 'the new process sent nothing');
  });
});
