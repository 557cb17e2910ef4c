/**
 * The v2 document budgets through a real room (SPEC BUDGET-4, BUDGET-6, BUDGET-7), at small
 * settings: what goes over is refused whole with 4403 and counted by budget, the sender alone
 * is closed, and what stays within (replacing existing entries) is still accepted.
 */
import assert from 'node:assert/strict';
import {
  CloseCode,
  type DocumentBudgets,
  deviceRoot,
  muteKey,
  packMarker,
  packMuteStamp,
  type ThreadId,
} from '@badgesync/shared';
import { afterEach, describe, test } from 'vitest';
import * as Y from 'yjs';
import { documentBudgets, loadConfig } from '../src/config.js';
import { MemoryStore } from '../src/store/index.js';
import { contentOf, INBOX, MAC, PHONE, RecordingMember, Replica, RoomRig } from './room-rig.js';

const DEFAULTS: DocumentBudgets = documentBudgets(loadConfig([], {}));
const THREADS = ['t1', 't2', 't3', 't4'] as ThreadId[];

let rig: RoomRig | null = null;
afterEach(() => {
  rig?.close();
  rig = null;
});

async function rigWith(budgets: Partial<DocumentBudgets>): Promise<RoomRig> {
  rig = new RoomRig(new MemoryStore(), { ...DEFAULTS, ...budgets });
  rig.room.serverWrite(({ heads }) => {
    heads.set(INBOX, 10);
    for (const thread of THREADS) heads.set(thread, 10);
  });
  await rig.flushed();
  return rig;
}

/** The sample of badgesync_budget_refusals_total for one budget. */
async function refusals(r: RoomRig, budget: string): Promise<number> {
  const metric = await r.metrics.budgetRefusals.get();
  return metric.values.find((v) => v.labels.budget === budget)?.value ?? 0;
}

describe('v2 budgets through the room', () => {
  test('[BUDGET-6] [BUDGET-4] sessions of one device writing one key concurrently: up to the budget apply, one more is refused whole', async () => {
    const r = await rigWith({ concurrentPerKey: 4 });
    const sessions = Array.from({ length: 5 }, (_, i) => {
      const replica = new Replica(PHONE, 6_000 + i);
      replica.pull(r.room);
      return { replica, member: new RecordingMember(PHONE, r.room) };
    });
    const bystander = new RecordingMember(MAC, r.room);
    const updates = sessions.map(({ replica }, i) => replica.write((own) => own.set(INBOX, packMarker(0, i + 1))));
    for (let i = 0; i < 4; i++)
      assert.deepEqual(sessions[i]?.member.sendUpdate(updates[i] as Uint8Array), { kind: 'ok' });
    await r.flushed();
    const before = { sv: Y.encodeStateVector(r.room.doc), log: r.logCount(), relayed: bystander.relayed().length };
    const last = sessions[4] as (typeof sessions)[number];
    const result = last.member.sendUpdate(updates[4] as Uint8Array);
    assert.equal(result.kind, 'refused');
    assert.equal(last.member.closed?.code, CloseCode.forbiddenWrite);
    assert.match(last.member.closed?.reason ?? '', /^concurrent_writes/);
    await r.flushed();
    assert.deepEqual(Y.encodeStateVector(r.room.doc), before.sv, 'nothing applied');
    assert.equal(r.logCount(), before.log, 'nothing stored');
    assert.equal(bystander.relayed().length, before.relayed, 'nothing relayed');
    assert.equal(r.store.loadBindings(r.room.account).has(6_004), false, 'its client ID is not bound');
    assert.equal(bystander.closed, null);
    assert.equal(await refusals(r, 'concurrentPerKey'), 1);
    assert.deepEqual(contentOf(r.room.doc)[deviceRoot(PHONE)], {
      inbox: [1, 2, 3, 4].map((seq) => packMarker(0, seq)),
    });

    // A session that syncs first replaces every duplicate: never concurrent.
    const synced = sessions[0] as (typeof sessions)[number];
    synced.replica.pull(r.room);
    assert.deepEqual(synced.member.sendUpdate(synced.replica.write((own) => own.set(INBOX, packMarker(0, 9)))), {
      kind: 'ok',
    });
    assert.deepEqual(contentOf(r.room.doc)[deviceRoot(PHONE)], { inbox: packMarker(0, 9) });
  });

  test('[BUDGET-7] [BUDGET-4] marker keys and muted threads per account: a new key past the budget is refused, replacing an existing one is not', async () => {
    const r = await rigWith({ readsPerAccount: 3, mutesPerAccount: 2 });
    const phone = new Replica(PHONE, 7_001);
    const mac = new Replica(MAC, 7_002);
    phone.pull(r.room);
    mac.pull(r.room);
    const phoneMember = new RecordingMember(PHONE, r.room);
    const macMember = new RecordingMember(MAC, r.room);
    assert.deepEqual(
      phoneMember.sendUpdate(
        phone.write((own) => {
          own.set(THREADS[0] as ThreadId, packMarker(0, 1));
          own.set(THREADS[1] as ThreadId, packMarker(0, 1));
        }),
      ),
      { kind: 'ok' },
    );
    assert.deepEqual(macMember.sendUpdate(mac.write((own) => own.set(THREADS[0] as ThreadId, packMarker(0, 2)))), {
      kind: 'ok',
    });
    // Three marker keys in the account: the phone's next thread would be a fourth.
    const fourth = new RecordingMember(PHONE, r.room);
    assert.equal(
      fourth.sendUpdate(phone.write((own) => own.set(THREADS[2] as ThreadId, packMarker(0, 1)))).kind,
      'refused',
    );
    assert.equal(fourth.closed?.code, CloseCode.forbiddenWrite);
    assert.match(fourth.closed?.reason ?? '', /^key_budget/);
    assert.equal(await refusals(r, 'readsPerAccount'), 1);
    // Replacing an existing key stays allowed at the budget.
    const again = new Replica(PHONE, 7_003);
    again.pull(r.room);
    const againMember = new RecordingMember(PHONE, r.room);
    assert.deepEqual(againMember.sendUpdate(again.write((own) => own.set(THREADS[1] as ThreadId, packMarker(0, 5)))), {
      kind: 'ok',
    });

    // Two muted threads in the account; a third is refused, an unmute of one of them is not.
    const mute = (thread: ThreadId, counter: number, muted: boolean) =>
      mac.write((own) => own.set(muteKey(thread), packMuteStamp(counter, muted)));
    assert.deepEqual(macMember.sendUpdate(mute(THREADS[0] as ThreadId, 1, true)), { kind: 'ok' });
    assert.deepEqual(macMember.sendUpdate(mute(THREADS[1] as ThreadId, 1, true)), { kind: 'ok' });
    assert.deepEqual(macMember.sendUpdate(mute(THREADS[1] as ThreadId, 2, false)), { kind: 'ok' });
    const third = new RecordingMember(MAC, r.room);
    assert.equal(third.sendUpdate(mute(THREADS[2] as ThreadId, 1, true)).kind, 'refused');
    assert.match(third.closed?.reason ?? '', /^key_budget/);
    assert.equal(await refusals(r, 'mutesPerAccount'), 1);
    await r.flushed();
    assert.deepEqual(r.room.tracker.counts().muted, [THREADS[0]]);
    assert.equal(macMember.closed, null);
    assert.equal(againMember.closed, null);
  });
});
