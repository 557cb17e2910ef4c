/**
 * Who gets a badge push, end to end: the real server process, the real apns2 client, the
 * test APNs server (invariant 5). "No push" is checked against a witness: a device the same
 * change does push, whose push arriving means the scheduler has been through that window.
 */
import assert from 'node:assert/strict';
import { packMarker } from '@badgesync/shared';
import { describe, test } from 'vitest';
import { api, badge } from '../helpers/api-client.js';
import { markMuted, setEntry } from '../helpers/marks.js';
import { sample, scrape } from '../helpers/metrics.js';
import { connectDevice, synced } from '../helpers/providers.js';
import { delivered, poll, post, register, usePushRig, waitForBadge, waitForMetric } from '../helpers/push-rig.js';

describe('push: who gets which badge', () => {
  const ctx = usePushRig();

  test('[PUSH-1] an offline device with a token gets the new badge after an ingest', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'ann', 'ann-phone');
    await waitForBadge(apns, phone, 0);
    assert.equal(await post(server, 'ann', 'inbox', 3), 3);
    await waitForBadge(apns, phone, 3);
    assert.equal(await post(server, 'ann', 'news', 2), 5);
    await waitForBadge(apns, phone, 5);
    assert.deepEqual(delivered(apns, phone), [0, 3, 5]);
    // [PUSH-9] The server counts a push once APNs's 200 has reached it.
    await waitForMetric(server, 'badgesync_pushes_sent_total', {}, (sent) => sent >= 3);
    const text = await scrape(server);
    assert.ok(sample(text, 'badgesync_push_queued_total') >= 3, 'queued counted');
    assert.ok(sample(text, 'badgesync_push_latency_seconds_count') >= 3, 'latency observed');
  });

  test('[PUSH-1] a read on another, connected device pushes the offline device its lower badge', async () => {
    const { server, apns } = ctx.rig;
    await post(server, 'bea', 'inbox', 5);
    const phone = await register(server, 'bea', 'bea-phone');
    await waitForBadge(apns, phone, 5);
    const mac = await connectDevice(server, 'bea', 'bea-mac');
    try {
      await synced(mac);
      setEntry(mac.doc, 'bea-mac', 'inbox', packMarker(0, 3));
      await waitForBadge(apns, phone, 2);
      assert.equal((await badge(server, 'bea')).badge, 2);
    } finally {
      mac.destroy();
    }
  });

  test('[PUSH-3] a device online for the account that changed gets no push', async () => {
    const { server, apns } = ctx.rig;
    const ipad = await connectDevice(server, 'cai', 'cai-ipad');
    try {
      await synced(ipad);
      const ipadToken = await register(server, 'cai', 'cai-ipad');
      const witness = await register(server, 'cai', 'cai-phone');
      await waitForBadge(apns, witness, 0);
      await post(server, 'cai', 'inbox', 4);
      await waitForBadge(apns, witness, 4);
      await post(server, 'cai', 'inbox', 1);
      await waitForBadge(apns, witness, 5);
      assert.deepEqual(apns.requestsFor(ipadToken), [], 'no request for the online iPad');
    } finally {
      ipad.destroy();
    }
  });

  test('[PUSH-2] a device signed in to two accounts gets the sum; signed out of one, only the other', async () => {
    const { server, apns } = ctx.rig;
    await post(server, 'dan', 'inbox', 2);
    await post(server, 'dan-work', 'mail', 3);
    const phone = await register(server, 'dan', 'dan-phone');
    await register(server, 'dan-work', 'dan-phone');
    await waitForBadge(apns, phone, 5);
    await post(server, 'dan-work', 'mail', 1);
    await waitForBadge(apns, phone, 6);
    const signOut = await api(server, 'DELETE', '/v1/accounts/dan/devices/dan-phone');
    assert.deepEqual(signOut.body, { signedOut: true });
    await waitForBadge(apns, phone, 4);
    await post(server, 'dan', 'inbox', 10);
    await post(server, 'dan-work', 'mail', 1);
    await waitForBadge(apns, phone, 5);
    assert.ok(!delivered(apns, phone).some((value) => value > 6), 'no push counted the signed-out account again');
  });

  test('[PUSH-6] items in a muted thread change no badge and send nothing', async () => {
    const { server, apns } = ctx.rig;
    await post(server, 'eve', 'inbox', 1);
    const phone = await register(server, 'eve', 'eve-phone');
    await waitForBadge(apns, phone, 1);
    const mac = await connectDevice(server, 'eve', 'eve-mac');
    try {
      await synced(mac);
      markMuted(mac.doc, 'eve-mac', 'promo', true);
      await poll(async () => (await badge(server, 'eve')).muted.includes('promo'), 'the server sees the mute');
      const before = delivered(apns, phone).length;
      const skipped = await waitForMetric(
        server,
        'badgesync_pushes_skipped_total',
        { reason: 'unchanged' },
        () => true,
      );
      await post(server, 'eve', 'promo', 7);
      assert.deepEqual(await badge(server, 'eve'), { badge: 1, threads: { inbox: 1, promo: 7 }, muted: ['promo'] });
      // The change queued the phone; the scheduler found APNs already has 1.
      await waitForMetric(server, 'badgesync_pushes_skipped_total', { reason: 'unchanged' }, (v) => v > skipped);
      assert.equal(delivered(apns, phone).length, before, 'no push for the muted thread');
      await post(server, 'eve', 'inbox', 1);
      await waitForBadge(apns, phone, 2);
      assert.deepEqual(delivered(apns, phone).slice(before), [2]);
    } finally {
      mac.destroy();
    }
  });

  test('[PUSH-1] `badges: false` gets nothing; turned back on, the current badge', async () => {
    const { server, apns } = ctx.rig;
    const phone = await register(server, 'fay', 'fay-phone', { badges: false });
    const witness = await register(server, 'fay', 'fay-ipad');
    await post(server, 'fay', 'inbox', 2);
    await waitForBadge(apns, witness, 2);
    await post(server, 'fay', 'inbox', 1);
    await waitForBadge(apns, witness, 3);
    assert.deepEqual(apns.requestsFor(phone), [], 'badges off: no request');
    await register(server, 'fay', 'fay-phone', { badges: true });
    await waitForBadge(apns, phone, 3);
    assert.deepEqual(delivered(apns, phone), [3]);
  });

  test('[PUSH-1] badges turned off and on again: nothing while off, then the badge as it is now', async () => {
    const { server, apns } = ctx.rig;
    await post(server, 'gus', 'inbox', 4);
    const phone = await register(server, 'gus', 'gus-phone');
    const witness = await register(server, 'gus', 'gus-ipad');
    await waitForBadge(apns, phone, 4);
    await register(server, 'gus', 'gus-phone', { badges: false });
    await post(server, 'gus', 'inbox', 2);
    await waitForBadge(apns, witness, 6);
    assert.deepEqual(delivered(apns, phone), [4], 'badges off: nothing');
    await register(server, 'gus', 'gus-phone', { badges: true });
    await waitForBadge(apns, phone, 6);
    assert.deepEqual(delivered(apns, phone), [4, 6]);
  });
});
