/**
 * Every kind of forged write over a real socket, from a stock provider whose document does
 * it: the sender is closed with 4403 naming the rule; the other device, GET /badge, a device
 * connecting later and the log after a restart see nothing of it; the server keeps serving.
 */
import assert from 'node:assert/strict';
import {
  accountMaps,
  type DeviceId,
  MAX_EPOCH_LEAD,
  packMarker,
  type RefusalReason,
  readsKey,
  type ThreadId,
} from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { api, badge } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { docState } from '../helpers/doc-state.js';
import { badgeBecomes } from '../helpers/eventually.js';
import { metric } from '../helpers/metrics.js';
import { type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

const T = 't' as ThreadId;
const key = (device: string) => readsKey(T, device as DeviceId);

interface ForgeCase {
  readonly name: string;
  readonly reason: RefusalReason;
  /** Honest writes before the forgery (accepted and relayed). */
  readonly prepare?: (ctx: { evil: Device; phone: Device }) => void;
  readonly forge: (ctx: { evil: Device; phone: Device }) => void;
}

/** The Yjs client ID that wrote heads[t]: the server's own. */
function serverClientId(doc: Y.Doc): number {
  const item = accountMaps(doc).heads._map.get('t');
  assert.ok(item, 'heads[t] is synced');
  return item.id.client;
}

const CASES: readonly ForgeCase[] = [
  {
    name: '[RULE-4] a device writing heads',
    reason: 'heads_by_device',
    forge: ({ evil }) => accountMaps(evil.doc).heads.set('t', 0),
  },
  {
    name: '[RULE-5] a device writing another device’s marker',
    reason: 'foreign_marker',
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('phone'), packMarker(0, 5)),
  },
  {
    name: '[RULE-5][ID-2] a device writing the server’s @server marker',
    reason: 'foreign_marker',
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('@server'), packMarker(0, 5)),
  },
  {
    name: '[RULE-3] a non-integer marker',
    reason: 'invalid_value',
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), 2.5),
  },
  {
    name: '[RULE-3] a mute that is not a boolean',
    reason: 'invalid_value',
    forge: ({ evil }) => (accountMaps(evil.doc).mutes as unknown as Y.Map<string>).set('t', 'yes'),
  },
  {
    name: '[RULE-6] a lower marker',
    reason: 'lower_marker',
    prepare: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 3)),
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 1)),
  },
  {
    name: '[RULE-7] a marker epoch far above the thread’s',
    reason: 'epoch_too_far',
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), packMarker(MAX_EPOCH_LEAD + 1, 0)),
  },
  {
    name: '[RULE-8] a marker beyond the head',
    reason: 'seq_beyond_head',
    forge: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 6)),
  },
  {
    name: '[RULE-1] an unknown top-level type',
    reason: 'unknown_root',
    forge: ({ evil }) => evil.doc.getMap('extra').set('x', 1),
  },
  {
    name: '[RULE-2] a nested Y.Map',
    reason: 'nested_type',
    forge: ({ evil }) => (accountMaps(evil.doc).mutes as unknown as Y.Map<Y.Map<boolean>>).set('t', new Y.Map()),
  },
  {
    name: '[RULE-9] a device deleting its own marker',
    reason: 'deleted_marker',
    prepare: ({ evil }) => accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 3)),
    forge: ({ evil }) => accountMaps(evil.doc).reads.delete(key('mallory')),
  },
  {
    name: '[RULE-13] a device writing under another device’s Yjs client ID',
    reason: 'foreign_client_id',
    prepare: ({ phone }) => accountMaps(phone.doc).reads.set(key('phone'), packMarker(0, 1)),
    forge: ({ evil, phone }) => {
      // Set after syncing: Yjs gives a replica a new ID when it receives its own from elsewhere.
      evil.doc.clientID = phone.doc.clientID;
      accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 2));
    },
  },
  {
    name: '[RULE-13] a device writing under the server’s Yjs client ID',
    reason: 'foreign_client_id',
    forge: ({ evil }) => {
      evil.doc.clientID = serverClientId(evil.doc);
      accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 2));
    },
  },
];

describe('forged writes over a real socket', () => {
  let server: ServerProcess;
  /** Per account, what every replica must hold at the end of its case. */
  const expected = new Map<string, Record<string, Record<string, unknown>>>();

  const devices = new DeviceSet();
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  CASES.forEach((forgery, index) => {
    test(`${forgery.name} → [SYNC-3][RULE-14][CLOSE-3] 4403 ${forgery.reason}; nobody sees it; the server keeps serving`, async () => {
      const account = `forge-${index}`;
      await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 't', count: 5 });
      const phone = await devices.connect(server, account, 'phone');
      const evil = await devices.connect(server, account, 'mallory');
      await Promise.all([synced(phone), synced(evil)]);
      const evilClientId = evil.doc.clientID;
      try {
        const ctx = { evil, phone };
        if (forgery.prepare) {
          forgery.prepare(ctx);
          await waitFor(
            () => JSON.stringify(docState(phone.doc)) === JSON.stringify(docState(evil.doc)),
            5000,
            'the honest preparation to reach both devices',
          );
        }
        const before = docState(phone.doc);
        const badgeBefore = await badge(server, account);
        const refusedBefore = await metric(server, 'badgesync_updates_refused_total', { reason: forgery.reason });

        forgery.forge(ctx);
        await waitFor(() => evil.closes.length > 0, 5000, 'the forger to be closed');
        assert.equal(evil.closes[0]?.code, 4403);
        assert.ok(
          evil.closes[0]?.reason.startsWith(`${forgery.reason}:`),
          `the close reason names the rule: ${evil.closes[0]?.reason}`,
        );
        assert.equal(
          await metric(server, 'badgesync_updates_refused_total', { reason: forgery.reason }),
          refusedBefore + 1,
        );

        // A new item after the refusal: once the phone has it, anything relayed before is there too.
        const posted = await api(server, 'POST', `/v1/accounts/${account}/items`, { thread: 't' });
        assert.equal(posted.status, 200);
        await waitFor(() => accountMaps(phone.doc).heads.get('t') === 6, 5000, 'the phone to see item 6');
        const afterBarrier = { ...before, heads: { ...before.heads, t: 6 } };
        assert.deepEqual(docState(phone.doc), afterBarrier, 'the phone saw nothing of the forgery');
        assert.deepEqual(phone.closes, []);
        assert.deepEqual(await badge(server, account), {
          ...badgeBefore,
          badge: badgeBefore.badge + 1,
          threads: { t: 6 - readOf(before) },
        });

        // An honest write still syncs: the phone reads everything, a device joining later sees it.
        accountMaps(phone.doc).reads.set(key('phone'), packMarker(0, 6));
        await badgeBecomes(server, account, 0);
        const tablet = await RawClient.synced(server, account, 'tablet');
        const final = docState(phone.doc);
        assert.deepEqual(docState(tablet.doc), final, 'a device joining later holds only honest data');
        tablet.close();
        assert.equal(evil.provider.shouldConnect, false, 'the forger’s stock provider does not reconnect');
        expected.set(account, final);
      } finally {
        // The provider's awareness is keyed by the client ID it started with.
        evil.doc.clientID = evilClientId;
        devices.destroy(phone);
        devices.destroy(evil);
      }
    });
  });

  test('[RULE-14] after a restart the log holds none of the forged writes', async () => {
    assert.equal(await server.stop(), 0);
    server = await server.restart();
    assert.equal(expected.size, CASES.length, 'every case left its expected state');
    for (const [account, state] of expected) {
      const device = await RawClient.synced(server, account, 'reader');
      assert.deepEqual(docState(device.doc), state, account);
      device.close();
    }
  });

  test('[RULE-13] after a restart, writing under the previous server process’s client ID → 4403', async () => {
    const account = 'forge-0';
    const evil = await devices.connect(server, account, 'mallory');
    await synced(evil);
    const own = evil.doc.clientID;
    // heads[t] was written by the server before the restart; the new process has another ID.
    evil.doc.clientID = serverClientId(evil.doc);
    accountMaps(evil.doc).reads.set(key('mallory'), packMarker(0, 1));
    await waitFor(() => evil.closes.length > 0, 5000, 'the forger to be closed');
    evil.doc.clientID = own;
    assert.equal(evil.closes[0]?.code, 4403);
    assert.match(evil.closes[0]?.reason ?? '', /^foreign_client_id:/);
    const reader = await RawClient.synced(server, account, 'reader');
    assert.deepEqual(docState(reader.doc), expected.get(account));
    reader.close();
    devices.destroy(evil);
  });
});

/** The read seq of thread t in a replica's state (the largest marker's low bits). */
function readOf(state: Record<string, Record<string, unknown>>): number {
  let max = 0;
  for (const [k, v] of Object.entries(state.reads ?? {})) if (k.startsWith('t/')) max = Math.max(max, v as number);
  return max % 2 ** 32;
}
