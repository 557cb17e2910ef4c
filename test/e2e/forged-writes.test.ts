/**
 * Every kind of forged write over a real socket, from a stock provider whose document does
 * it: the sender is closed with 4403 naming the rule; the other device, GET /badge, a device
 * connecting later and the log after a restart see nothing of it; the server keeps serving.
 */
import assert from 'node:assert/strict';
import {
  CloseCode,
  type DeviceId,
  deviceRoot,
  type Entry,
  HEADS_ROOT,
  KeyValueArray,
  MAX_EPOCH_LEAD,
  MAX_MUTE_LEAD,
  packMarker,
  packMuteStamp,
  type RefusalReason,
} from '@badgesync/shared';
import { afterAll, beforeAll, describe, test } from 'vitest';
import * as Y from 'yjs';
import { api, badge } from '../helpers/api-client.js';
import { DeviceSet } from '../helpers/device-set.js';
import { docState, type RootState } from '../helpers/doc-state.js';
import { headOf } from '../helpers/entries.js';
import { badgeBecomes } from '../helpers/eventually.js';
import { setEntry } from '../helpers/marks.js';
import { metric } from '../helpers/metrics.js';
import { type Device, synced, waitFor } from '../helpers/providers.js';
import { RawClient } from '../helpers/raw-client.js';
import { type ServerProcess, startServer, stopAll } from '../helpers/server-process.js';

interface ForgeCase {
  readonly name: string;
  readonly reason: RefusalReason;
  /** The close code: 4403 for a broken rule, 4410 for v1 content (the replica predates v2). */
  readonly code?: number;
  /** Honest writes before the forgery (accepted and relayed). */
  readonly prepare?: (ctx: { evil: Device; phone: Device }) => void;
  readonly forge: (ctx: { evil: Device; phone: Device }) => void;
}

/** The server's live `v2/heads` item of thread t: its Yjs ID names the server's client ID. */
function headsItem(doc: Y.Doc): Y.Item {
  for (let item = doc.getArray<Entry>(HEADS_ROOT)._start; item !== null; item = item.right) {
    if (!item.deleted && item.content.getContent().some((entry) => (entry as Entry).key === 't')) return item;
  }
  assert.fail('heads t is synced');
}

/** The Yjs client ID that wrote head(t): the server's own. */
const serverClientId = (doc: Y.Doc): number => headsItem(doc).id.client;

/** The index of `key`'s live entry in `device`'s array on `doc`. */
function indexOf(doc: Y.Doc, device: string, key: string): number {
  const index = doc
    .getArray<Entry>(deviceRoot(device as DeviceId))
    .toArray()
    .findIndex((entry) => entry.key === key);
  assert.ok(index >= 0, `${device} has an entry of ${key}`);
  return index;
}

const mallory = (ctx: { evil: Device }) => ctx.evil.doc.getArray<unknown>(deviceRoot('mallory' as DeviceId));

const CASES: readonly ForgeCase[] = [
  {
    name: '[RULE-20] a device writing heads',
    reason: 'heads_by_device',
    forge: ({ evil }) => new KeyValueArray(evil.doc, HEADS_ROOT).set('t', 0),
  },
  {
    name: '[RULE-22] a device deleting a heads entry',
    reason: 'heads_by_device',
    forge: ({ evil }) => evil.doc.getArray(HEADS_ROOT).delete(0, 1),
  },
  {
    name: '[RULE-20] a device writing into another device’s array',
    reason: 'foreign_marker',
    forge: ({ evil }) => setEntry(evil.doc, 'phone', 't', packMarker(0, 5)),
  },
  {
    name: '[RULE-20][ID-2] a device writing into the server’s @server array',
    reason: 'foreign_marker',
    forge: ({ evil }) => setEntry(evil.doc, '@server', 't', packMarker(0, 5)),
  },
  {
    name: '[RULE-22] a device deleting another device’s entry',
    reason: 'foreign_marker',
    prepare: ({ phone }) => setEntry(phone.doc, 'phone', 't', packMarker(0, 1)),
    forge: ({ evil }) => evil.doc.getArray(deviceRoot('phone' as DeviceId)).delete(indexOf(evil.doc, 'phone', 't'), 1),
  },
  {
    name: '[RULE-21] a non-integer marker',
    reason: 'invalid_value',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 't', 2.5),
  },
  {
    name: '[RULE-21] a mute stamp below 2 (counter 0)',
    reason: 'invalid_value',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 'm/t', 1),
  },
  {
    name: '[RULE-21] a key that is neither a thread ID nor m/<thread ID>',
    reason: 'invalid_key',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 'x/t', packMarker(0, 1)),
  },
  {
    name: '[RULE-21] an element that is not a { key, val } entry',
    reason: 'invalid_value',
    forge: (ctx) => mallory(ctx).push([{ key: 't', val: packMarker(0, 1), extra: true }]),
  },
  {
    name: '[RULE-24] a lower marker',
    reason: 'lower_marker',
    prepare: ({ evil }) => setEntry(evil.doc, 'mallory', 't', packMarker(0, 3)),
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 't', packMarker(0, 1)),
  },
  {
    name: '[RULE-24] a lower mute stamp',
    reason: 'lower_mute',
    // Unmuted at counter 2, so the badge the test checks still counts t.
    prepare: ({ evil }) => setEntry(evil.doc, 'mallory', 'm/t', packMuteStamp(2, false)),
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 'm/t', packMuteStamp(1, true)),
  },
  {
    name: '[RULE-25] a marker epoch far above the thread’s',
    reason: 'epoch_too_far',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 't', packMarker(MAX_EPOCH_LEAD + 1, 0)),
  },
  {
    name: '[RULE-26] a marker beyond the head',
    reason: 'seq_beyond_head',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 't', packMarker(0, 6)),
  },
  {
    name: '[RULE-27] a mute counter far above the thread’s',
    reason: 'mute_too_far',
    forge: ({ evil }) => setEntry(evil.doc, 'mallory', 'm/t', packMuteStamp(MAX_MUTE_LEAD + 1, true)),
  },
  {
    name: '[RULE-23] a device deleting its own marker',
    reason: 'deleted_marker',
    prepare: ({ evil }) => setEntry(evil.doc, 'mallory', 't', packMarker(0, 3)),
    forge: (ctx) => mallory(ctx).delete(indexOf(ctx.evil.doc, 'mallory', 't'), 1),
  },
  {
    name: '[RULE-18] an unknown top-level type',
    reason: 'unknown_root',
    forge: ({ evil }) => evil.doc.getArray('extra').push([{ key: 't', val: 1 }]),
  },
  {
    name: '[RULE-18][SYNC-14][CLOSE-8] a v1 write (reads map) from a replica that predates v2',
    reason: 'v1_document',
    code: CloseCode.replicaOutdated,
    forge: ({ evil }) => evil.doc.getMap('reads').set('t/mallory', packMarker(0, 1)),
  },
  {
    name: '[RULE-18][SYNC-14][CLOSE-8] a v1 mute (mutes map)',
    reason: 'v1_document',
    code: CloseCode.replicaOutdated,
    forge: ({ evil }) => evil.doc.getMap('mutes').set('t', true),
  },
  {
    name: '[RULE-18][SYNC-14][CLOSE-8] a map entry under a v2 root name',
    reason: 'v1_document',
    code: CloseCode.replicaOutdated,
    forge: ({ evil }) => evil.doc.getMap(deviceRoot('mallory' as DeviceId)).set('t', packMarker(0, 1)),
  },
  {
    name: '[RULE-2] a nested Y.Map in a device array',
    reason: 'nested_type',
    forge: (ctx) => mallory(ctx).push([new Y.Map()]),
  },
  {
    name: '[RULE-13] a device writing under another device’s Yjs client ID',
    reason: 'foreign_client_id',
    prepare: ({ phone }) => setEntry(phone.doc, 'phone', 't', packMarker(0, 1)),
    forge: ({ evil, phone }) => {
      // Set after syncing: Yjs gives a replica a new ID when it receives its own from elsewhere.
      evil.doc.clientID = phone.doc.clientID;
      setEntry(evil.doc, 'mallory', 't', packMarker(0, 2));
    },
  },
  {
    name: '[RULE-13] a device writing under the server’s Yjs client ID',
    reason: 'foreign_client_id',
    forge: ({ evil }) => {
      evil.doc.clientID = serverClientId(evil.doc);
      setEntry(evil.doc, 'mallory', 't', packMarker(0, 2));
    },
  },
];

describe('forged writes over a real socket', () => {
  let server: ServerProcess;
  /** Per account, what every replica must hold at the end of its case. */
  const expected = new Map<string, Record<string, RootState>>();

  const devices = new DeviceSet();
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    devices.destroyAll();
    await stopAll();
  });

  CASES.forEach((forgery, index) => {
    const code = forgery.code ?? CloseCode.forbiddenWrite;
    test(`${forgery.name} → [SYNC-3][RULE-14]${forgery.code === undefined ? '[CLOSE-3]' : ''} ${code} ${forgery.reason}; nobody sees it; the server keeps serving`, async () => {
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
        assert.equal(evil.closes[0]?.code, code);
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
        await waitFor(() => headOf(phone.doc, 't') === 6, 5000, 'the phone to see item 6');
        const afterBarrier = { ...before, [HEADS_ROOT]: { ...before[HEADS_ROOT], t: [6] } };
        assert.deepEqual(docState(phone.doc), afterBarrier, 'the phone saw nothing of the forgery');
        assert.deepEqual(phone.closes, []);
        assert.deepEqual(await badge(server, account), {
          ...badgeBefore,
          badge: badgeBefore.badge + 1,
          threads: { t: 6 - readOf(before) },
        });

        // An honest write still syncs: the phone reads everything, a device joining later sees it.
        setEntry(phone.doc, 'phone', 't', packMarker(0, 6));
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
    // head(t) was written by the server before the restart; the new process has another ID.
    evil.doc.clientID = serverClientId(evil.doc);
    setEntry(evil.doc, 'mallory', 't', packMarker(0, 1));
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

/** The read seq of thread t in a replica's state (the largest marker's low bits, over every device array). */
function readOf(state: Record<string, RootState>): number {
  let max = 0;
  for (const [root, entries] of Object.entries(state)) {
    if (!root.startsWith('v2/device/')) continue;
    for (const value of entries.t ?? []) max = Math.max(max, value as number);
  }
  return max % 2 ** 32;
}
