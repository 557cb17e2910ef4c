import assert from 'node:assert/strict';
import * as decoding from 'lib0/decoding';
import { describe, test } from 'vitest';
import {
  type AwarenessBudget,
  AwarenessRelay,
  type ClientClaim,
  encodeAwarenessChanges,
  MAX_AWARENESS_ENTRIES,
} from '../src/sync/awareness-relay.js';

const BUDGET: AwarenessBudget = { stateBytes: 100, accountBytes: 250, clientsPerConnection: 2 };

function update(...entries: Array<[clientId: number, clock: number, state: unknown]>): Uint8Array {
  return encodeAwarenessChanges(
    entries.map(([clientId, clock, state]) => ({ clientId, clock, state: JSON.stringify(state) })),
  );
}

/** The client IDs and states an encoded awareness update carries. */
function entries(bytes: Uint8Array | null): Array<[number, string]> {
  if (bytes === null) return [];
  const decoder = decoding.createDecoder(bytes);
  const out: Array<[number, string]> = [];
  for (let n = decoding.readVarUint(decoder); n > 0; n--) {
    const id = decoding.readVarUint(decoder);
    decoding.readVarUint(decoder);
    out.push([id, decoding.readVarString(decoder)]);
  }
  return out;
}

/** Device A owns 1, device B owns 2; the rest are unbound. */
const claimsOf =
  (device: 'A' | 'B') =>
  (clientId: number): ClientClaim => {
    const owner = clientId === 1 ? 'A' : clientId === 2 ? 'B' : undefined;
    return owner === undefined ? 'free' : owner === device ? 'own' : 'foreign';
  };

describe('awareness relay budgets', () => {
  test('[AWARE-1] a state over the per-state budget refuses the whole update and keeps nothing of it', () => {
    const relay = new AwarenessRelay(BUDGET);
    const a = {};
    const result = relay.apply(a, update([1, 1, { ok: true }], [3, 1, { big: 'x'.repeat(200) }]), claimsOf('A'));
    assert.equal(result.kind, 'over-budget');
    assert.equal(relay.size, 0);
    assert.equal(relay.snapshot(), null);
  });

  test(`[AWARE-1] more than ${MAX_AWARENESS_ENTRIES} entries in one message is over budget`, () => {
    const relay = new AwarenessRelay(BUDGET);
    const many = Array.from(
      { length: MAX_AWARENESS_ENTRIES + 1 },
      (_, i) => [1000 + i, 1, null] as [number, number, null],
    );
    assert.equal(relay.apply({}, update(...many), claimsOf('A')).kind, 'over-budget');
  });

  test('[AWARE-5] a state that is not JSON is malformed', () => {
    const relay = new AwarenessRelay(BUDGET);
    const bytes = encodeAwarenessChanges([{ clientId: 1, clock: 1, state: '{nope' }]);
    assert.equal(relay.apply({}, bytes, claimsOf('A')).kind, 'malformed');
    assert.equal(relay.apply({}, new Uint8Array([1, 1]), claimsOf('A')).kind, 'malformed');
  });

  test('[AWARE-2] states beyond the account budget are dropped, and snapshots cost no more than the states held', () => {
    const relay = new AwarenessRelay({ ...BUDGET, clientsPerConnection: 10 });
    const filler = 'y'.repeat(80);
    const owners = [{}, {}, {}, {}];
    for (const [i, owner] of owners.entries()) {
      const result = relay.apply(owner, update([10 + i, 1, filler]), () => 'free');
      assert.equal(result.kind, 'ok');
      if (i < 3) assert.deepEqual(result.kind === 'ok' && result.claimed, [10 + i]);
      else {
        assert.deepEqual(result.kind === 'ok' && [...result.dropped], [['account_bytes', 1]]);
        assert.deepEqual(result.kind === 'ok' && result.claimed, [], 'a dropped ID is not bound');
      }
    }
    assert.ok(relay.bytes <= 250);
    const snapshot = relay.snapshot();
    assert.ok(snapshot !== null && snapshot.byteLength <= 250 + 3 * 12, `snapshot of ${snapshot?.byteLength} bytes`);
    assert.equal(relay.snapshot(), snapshot, 'encoded once until something changes');
    // A leaving connection frees its share.
    assert.deepEqual(entries(relay.removeOwner(owners[0] as object)), [[10, 'null']]);
    assert.equal(relay.apply(owners[3] as object, update([13, 2, filler]), () => 'free').kind, 'ok');
    assert.deepEqual(
      entries(relay.snapshot()).map(([id]) => id),
      [11, 12, 13],
    );
  });

  test('[AWARE-3] a connection claims at most its budget of new client IDs (over budget), and holds at most that many states', () => {
    const relay = new AwarenessRelay(BUDGET);
    const a = {};
    assert.equal(relay.apply(a, update([3, 1, {}], [4, 1, {}]), claimsOf('A')).kind, 'ok');
    const third = relay.apply(a, update([5, 1, {}]), claimsOf('A'));
    assert.equal(third.kind, 'over-budget');
    // Its own bound ID beyond the states it may hold is dropped, not refused.
    const own = relay.apply(a, update([1, 1, {}]), claimsOf('A'));
    assert.deepEqual(own.kind === 'ok' && [...own.dropped], [['connection_states', 1]]);
    // Claims are per connection: another connection of the device may claim its own.
    assert.equal(relay.apply({}, update([6, 1, {}]), claimsOf('A')).kind, 'ok');
  });

  test('[AWARE-4] entries under another device’s client IDs are dropped, never relayed, and the sender is not refused', () => {
    const relay = new AwarenessRelay(BUDGET);
    const a = {};
    const b = {};
    assert.equal(relay.apply(a, update([1, 1, { name: 'A' }]), claimsOf('A')).kind, 'ok');
    const spoof = relay.apply(b, update([1, 9, { name: 'spoof' }], [2, 1, { name: 'B' }]), claimsOf('B'));
    assert.equal(spoof.kind, 'ok');
    assert.deepEqual(spoof.kind === 'ok' && entries(spoof.relay), [[2, '{"name":"B"}']]);
    assert.deepEqual(spoof.kind === 'ok' && [...spoof.dropped], [['foreign_awareness_id', 1]]);
    // A's entry gone (A left): B re-sending A's state still cannot take it.
    relay.removeOwner(a);
    const echo = relay.apply(b, update([1, 10, { name: 'A' }]), claimsOf('B'));
    assert.equal(echo.kind === 'ok' && echo.relay, null);
    assert.deepEqual(
      entries(relay.snapshot()).map(([id]) => id),
      [2],
    );
  });
});
